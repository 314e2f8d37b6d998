"""REST contract details on a real server: the API key, every error status, knowledge upload, versions and
rollback, the cache, and a vector store that is down."""

from __future__ import annotations

import aiohttp
import pytest
from fpdf import FPDF
from structlog.testing import capture_logs

from rag.milvus import StoreUnavailable
from tests.rest_client import JsonClient, start_rest_server

pytestmark = pytest.mark.integration

KEY = "s3cret-key"


@pytest.fixture
async def rest(tmp_path, embedder):
    server = await start_rest_server(tmp_path, embedder=embedder)
    yield server
    await server.close()


@pytest.fixture
async def api(rest):
    client = JsonClient(rest.url)
    yield client
    await client.close()


def form(path_name: str, content: bytes, **fields: str) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        data.add_field(name, value)
    data.add_field("file", content, filename=path_name, content_type="application/octet-stream")
    return data


async def test_api_key_guards_api_routes_only(tmp_path, embedder):
    with capture_logs() as logs:
        server = await start_rest_server(tmp_path, embedder=embedder, faq=False, api_key=KEY)
    assert not [e for e in logs if e["event"] == "api.open_mode"]
    anonymous, wrong, right = JsonClient(server.url), JsonClient(server.url, "nope"), JsonClient(server.url, KEY)
    try:
        status, body = await anonymous.get("/api/v1/agent/sessions/pending")
        assert status == 401 and body["error"]["code"] == "missing_api_key" and body["status"] == "error"
        status, body = await wrong.post("/api/v1/chat", {"message": "hi"})
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert (await right.get("/api/v1/agent/sessions/pending")) == (200, [])
        for path in ("/openapi.json", "/docs", "/healthz"):
            status, _ = await anonymous.get(path)
            assert status == 200, path
        status, _ = await anonymous.get("/metrics")
        assert status == 200
        # Feishu's routes keep their own checks: an unsigned callback is refused by the signature check.
        status, body = await anonymous.post("/feishu/events", {"type": "url_verification", "challenge": "x"})
        assert not (isinstance(body, dict) and body.get("status") == "error")  # not the API's error shape
    finally:
        for client in (anonymous, wrong, right):
            await client.close()
        await server.close()


async def test_open_mode_warns_at_startup(tmp_path, embedder):
    with capture_logs() as logs:
        server = await start_rest_server(tmp_path, embedder=embedder, faq=False)
    await server.close()
    warnings = [e for e in logs if e["event"] == "api.open_mode"]
    assert warnings and warnings[0]["log_level"] == "warning"


@pytest.mark.parametrize(("body", "status", "code"), [
    ({}, 422, "validation_error"),
    ({"message": ""}, 422, "validation_error"),
    ({"message": "   "}, 422, "validation_error"),
    ({"message": 5}, 422, "validation_error"),
    ({"message": "hi", "channel": "feishu"}, 422, "validation_error"),
    ({"message": "hi", "extra": 1}, 422, "validation_error"),
    (["hi"], 422, "validation_error"),
    ({"message": "hi", "session_id": "s_unknown"}, 404, "not_found"),
])
async def test_chat_rejects_bad_input(api, body, status, code):
    got_status, got = await api.post("/api/v1/chat", body)
    assert got_status == status and got["status"] == "error" and got["error"]["code"] == code
    assert got["error"]["message"]


async def test_malformed_json_unknown_route_and_wrong_method(api):
    status, body = await api.call("POST", "/api/v1/chat", data=b"{not json",
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and body["error"]["code"] == "bad_request"
    status, body = await api.call("POST", "/api/v1/chat", data=b"\xff\xfe")
    assert status == 400
    status, body = await api.get("/api/v1/nothing/here")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.get("/api/v1/chat")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    status, body = await api.get("/api/v1/agent/sessions/s_nope")
    assert status == 404 and body["error"]["code"] == "session_not_found"
    status, body = await api.get("/api/v1/agent/sessions/pending?limit=0")
    assert status == 422
    status, body = await api.get("/api/v1/monitor/traces?limit=abc")
    assert status == 422
    status, body = await api.get("/api/v1/monitor/traces/t_nope")
    assert status == 404


async def test_agent_routes_validate_and_refuse_illegal_moves(api):
    status, chat = await api.post("/api/v1/chat", {"message": "怎么申请退货？"})
    sid = chat["session_id"]
    base = f"/api/v1/agent/sessions/{sid}"
    for top_k in (0, 21, "3", 2.5):
        status, body = await api.post(f"{base}/knowledge-recommend", {"query": "退货", "top_k": top_k})
        assert status == 422, top_k
    assert (await api.post(f"{base}/accept", {}))[0] == 422
    assert (await api.post(f"{base}/accept", {"agent_id": 7}))[0] == 422
    # With the bot: nothing to claim, write or resolve.
    status, body = await api.post(f"{base}/accept", {"agent_id": "a1"})
    assert status == 409 and "nothing to claim" in body["error"]["message"]
    assert (await api.post(f"{base}/messages", {"content": "hi"}))[0] == 409
    assert (await api.post(f"{base}/resolve", {}))[0] == 409
    assert (await api.call("POST", f"{base}/resolve"))[0] == 409  # the body is optional
    for path in ("accept", "messages", "knowledge-recommend", "business-assist", "solution", "resolve"):
        status, body = await api.post(f"/api/v1/agent/sessions/s_nope/{path}", _valid_body(path))
        assert status == 404, path
    status, body = await api.post(f"{base}/solution", {"question": "q", "solution": " "})
    assert status == 422
    status, body = await api.post(f"{base}/business-assist", {"query": "我的订单到哪了"})
    assert status == 200 and body["result"]["scene"] == "need_order_id"


def _valid_body(path: str) -> dict:
    return {"accept": {"agent_id": "a"}, "messages": {"content": "c"}, "knowledge-recommend": {"query": "q"},
            "business-assist": {"query": "q"}, "solution": {"question": "q", "solution": "s"},
            "resolve": {"note": "n"}}[path]


async def test_ingest_versions_rollback_and_cache(api, tmp_path):
    md = "# 保修政策\n\n## 家电\n\n大家电整机保修三年，主要部件保修六年，凭发票享受上门维修服务。\n"
    status, first = await api.call("POST", "/api/v1/knowledge/ingest",
                                   data=form("warranty.md", md.encode(), knowledge_type="policy"))
    assert status == 201 and first["chunk_count"] >= 1 and first["version"] == 1
    assert first["source_id"] == "file:warranty.md" and first["knowledge_type"] == "policy"
    status, second = await api.call("POST", "/api/v1/knowledge/ingest",
                                    data=form("warranty.md", (md + "\n小家电保修一年，七天内可换新。\n").encode()))
    assert status == 201 and second["version"] == 2 and second["added"] >= 1

    status, docs = await api.get("/api/v1/knowledge/documents")
    assert status == 200 and {"file:faq.jsonl", "file:warranty.md"} <= {d["source_id"] for d in docs["documents"]}
    status, versions = await api.get("/api/v1/knowledge/documents/file:warranty.md/versions")
    assert status == 200 and [v["version"] for v in versions["versions"]] == [1, 2]
    assert versions["current_version"] == 2
    status, back = await api.post("/api/v1/knowledge/documents/file%3Awarranty.md/rollback", {"version": 1})
    assert status == 200 and back["version"] == 1 and back["removed"] >= 1
    assert (await api.post("/api/v1/knowledge/documents/file:warranty.md/rollback", {"version": 9}))[0] == 404
    assert (await api.post("/api/v1/knowledge/documents/file:warranty.md/rollback", {"version": "1"}))[0] == 422
    assert (await api.get("/api/v1/knowledge/documents/file:nothing.md/versions"))[0] == 404

    status, unregistered = await api.call("POST", "/api/v1/knowledge/ingest",
                                          data=form("draft.md", md.encode(), register="false"))
    assert status == 201 and unregistered["version"] is None

    await api.post("/api/v1/chat", {"message": "怎么申请退货？"})
    status, cleared = await api.post("/api/v1/performance/cache/invalidate")
    assert status == 200 and cleared["cleared"] >= 1
    assert (await api.post("/api/v1/performance/cache/invalidate")) == (200, {"cleared": 0})


async def test_ingest_refuses_bad_uploads(api, monkeypatch):
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("tool.exe", b"MZ\x90\x00"))
    assert status == 415 and body["error"]["code"] == "unsupported_file_type" and ".pdf" in body["error"]["message"]
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("broken.pdf", b"%PDF-1.4 garbage"))
    assert status == 422 and body["error"]["code"] == "unreadable_file"
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("empty.md", b"# \n\n.\n"))
    assert status == 422 and body["error"]["code"] in ("quality_rejected", "unreadable_file")
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("a.md", b"# x", knowledge_type="x"))
    assert status == 422
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("a.md", b"# x", register="maybe"))
    assert status == 422
    data = aiohttp.FormData()
    data.add_field("knowledge_type", "doc")
    data.add_field("file_x", b"x", filename="x.md")
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=data)
    assert status == 422
    status, body = await api.post("/api/v1/knowledge/ingest", {"file": "x"})
    assert status == 415
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=b"--zz\r\nbroken",
                                  headers={"Content-Type": "multipart/form-data; boundary=zz"})
    assert status in (400, 422)
    monkeypatch.setattr("bot.rest.uploads.MAX_UPLOAD_BYTES", 1000)
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("big.md", b"# big\n" + b"x" * 5000))
    assert status == 413 and body["error"]["code"] == "payload_too_large"


async def test_pdf_upload_is_parsed(api, tmp_path):
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, "Warranty policy. Large appliances are covered for three years including parts "
                         "and labour. Keep the invoice to claim on-site repairs.")
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("policy.pdf", bytes(pdf.output())))
    assert status == 201 and body["chunk_count"] >= 1 and body["source_id"] == "file:policy.pdf"


async def test_vector_store_down_hands_over_and_ingest_is_503_not_a_crash(api, rest):
    async def down(*_a, **_kw):
        raise StoreUnavailable("vector store at test is unavailable")

    rest.services.knowledge.retriever.search = down
    status, body = await api.post("/api/v1/chat", {"message": "发票抬头写错了怎么办"})
    assert status == 200 and body["data"]["decision"] == "handover" and "知识库暂时无法查询" in body["reply"]
    assert body["data"]["escalation_card"]["escalate_reason"] == "knowledge_unavailable"
    async with api.session.post(f"{rest.url}/api/v1/chat/stream", json={"message": "又一个新问题"}) as response:
        assert response.status == 200
        text = await response.text()
    assert "event: meta" in text and "event: done" in text and "knowledge_unavailable" in text

    async def kb_down(*_a, **_kw):
        raise StoreUnavailable("down")

    rest.services.knowledge.kb.ingest_file = kb_down
    status, body = await api.call("POST", "/api/v1/knowledge/ingest", data=form("a.md", b"# a\n\ntext " * 20))
    assert status == 503
