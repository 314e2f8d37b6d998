"""The example scripts run as a user would run them, in their own processes, against a real server."""

from __future__ import annotations

import docx
import pytest
from fpdf import FPDF

from tests.rest_client import UNKNOWN, JsonClient, last_json_line, run_example, start_rest_server

pytestmark = pytest.mark.integration


@pytest.fixture
async def rest(tmp_path, embedder):
    server = await start_rest_server(tmp_path / "server", embedder=embedder, desk_escalate_on_no_answer=True)
    yield server
    await server.close()


def build_folder(folder):
    folder.mkdir()
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "Installation service. Air conditioners are installed free of charge within 48 hours "
                         "of delivery in covered cities; extra copper pipe is charged per metre.")
    pdf.output(str(folder / "installation.pdf"))
    document = docx.Document()
    document.add_heading("会员积分规则", level=1)
    document.add_paragraph("每消费1元累计1积分，积分有效期为两年，过期自动清零。积分可在会员中心兑换优惠券。")
    document.save(str(folder / "points.docx"))
    (folder / "returns.md").write_text(
        "# 退换货补充\n\n## 生鲜\n\n生鲜商品签收后48小时内可申请质量问题退款，需上传照片。\n", "utf-8")
    (folder / "notes.txt").write_text("not picked: only pdf, docx and md are", "utf-8")


async def test_batch_ingest_folder_then_cache_invalidated(rest, tmp_path):
    folder = tmp_path / "manuals"
    build_folder(folder)
    api = JsonClient(rest.url)
    await api.post("/api/v1/chat", {"message": "怎么申请退货？"})  # something in the answer cache
    code, out, err = await run_example("batch_ingest.py", str(folder), "--type", "policy", "--url", rest.url)
    assert code == 0, err
    summary = last_json_line(out)
    assert sorted(i["file"] for i in summary["ingested"]) == ["installation.pdf", "points.docx", "returns.md"]
    assert summary["failed"] == [] and summary["chunks"] >= 3 and summary["cache_cleared"] >= 0
    status, docs = await api.get("/api/v1/knowledge/documents")
    ids = {d["source_id"]: d for d in docs["documents"]}
    assert {"file:installation.pdf", "file:points.docx", "file:returns.md"} <= set(ids)
    assert ids["file:points.docx"]["knowledge_type"] == "policy"
    status, answer = await api.post("/api/v1/chat", {"message": "积分有效期多久"})
    assert status == 200 and "两年" in answer["reply"]

    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    code, out, err = await run_example("batch_ingest.py", str(folder), "--url", rest.url)
    assert code == 1 and last_json_line(out)["failed"][0]["file"] == "broken.pdf"
    await api.close()


async def test_agent_workflow_takes_the_most_urgent_session_and_resolves_it(rest):
    api = JsonClient(rest.url)
    # Two escalated customers: an explicit request for a human, then a no-answer (one failure suffices here).
    _, normal = await api.post("/api/v1/chat", {"message": UNKNOWN[0], "user_id": "web_a"})
    _, human = await api.post("/api/v1/chat", {"message": "转人工，订单20241103003的冰箱到哪了", "user_id": "web_b"})
    assert normal["data"]["escalate_to_human"] and human["data"]["escalate_to_human"]
    _, pending = await api.get("/api/v1/agent/sessions/pending")
    first = pending[0]["session_id"]

    code, out, err = await run_example("agent_workflow.py", "--agent-id", "a_lin", "--agent-name", "林",
                                       "--wait", "5", "--url", rest.url)
    assert code == 0, err
    done = last_json_line(out)
    assert done["claimed"] == first and done["state"] == "resolved" and done["review_id"]
    assert done["passages"] >= 1 and done["reply"] and done["pushed"] is False
    _, session = await api.get(f"/api/v1/agent/sessions/{first}")
    assert session["state"] == "resolved" and session["agent_id"] == "a_lin"
    assert any(h["role"] == "agent" and h["content"] == done["reply"] for h in session["history"])
    _, left = await api.get("/api/v1/agent/sessions/pending")
    assert [p["session_id"] for p in left] == [s for s in (normal["session_id"], human["session_id"]) if s != first]
    await api.close()
