"""The REST story end to end on a real server and knowledge base: a web customer's questions fail three
times and escalate; an agent finds the session in the pending queue, wins the claim against a second agent,
asks knowledge and the order backend, answers, records a solution and resolves."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import bot_settings
from tests.rest_client import UNKNOWN, JsonClient, start_rest_server

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(emulator, tmp_path, embedder):
    # Wired to the Feishu emulator like production (the agent group lives there); the assertions are REST's.
    settings = bot_settings(emulator.base_url, tmp_path, desk_working_hours="",
                            feishu_agent_chat_id="oc_agents")
    rest = await start_rest_server(tmp_path, embedder=embedder, settings=settings)
    client = JsonClient(rest.url)
    yield client
    await client.close()
    await rest.close()


async def test_escalation_claim_assist_reply_solution_resolve(api):
    status, first = await api.post("/api/v1/chat", {"message": "怎么申请退货？", "user_id": "web_amy"})
    assert status == 200 and first["status"] == "ok" and "7天内可无理由退货" in first["reply"]
    sid = first["session_id"]
    assert first["data"]["intent"] and first["data"]["escalate_to_human"] is False

    turns = []
    for question in UNKNOWN:
        status, body = await api.post("/api/v1/chat", {"message": question, "session_id": sid})
        assert status == 200 and body["session_id"] == sid
        turns.append(body["data"])
    assert [t["failed_attempts"] for t in turns] == [1, 2, 3]
    assert [t["escalate_to_human"] for t in turns] == [False, False, True]
    card = turns[-1]["escalation_card"]
    assert card["session_id"] == sid and card["escalate_reason"] and card["priority"] and card["summary"]

    # While the session waits for a human the bot stays quiet: the message is relayed, the reply empty.
    status, relayed = await api.post("/api/v1/chat", {"message": "有人吗？", "session_id": sid})
    assert status == 200 and relayed["reply"] == "" and relayed["data"]["escalate_to_human"] is True

    status, pending = await api.get("/api/v1/agent/sessions/pending")
    assert status == 200 and [p["session_id"] for p in pending] == [sid]
    item = pending[0]
    assert item["customer_id"] == "web_amy" and item["channel"] == "web" and item["waiting_s"] >= 0
    assert item["summary"] and item["escalate_reason"] == card["escalate_reason"] and item["waiting"]

    # Two agents click accept at the same moment: exactly one wins, the other gets 409 naming the winner.
    results = await asyncio.gather(
        api.post(f"/api/v1/agent/sessions/{sid}/accept", {"agent_id": "a_lin", "agent_name": "林"}),
        api.post(f"/api/v1/agent/sessions/{sid}/accept", {"agent_id": "a_zhou", "agent_name": "周"}))
    statuses = sorted(s for s, _ in results)
    assert statuses == [200, 409]
    won = next(b for s, b in results if s == 200)
    lost = next(b for s, b in results if s == 409)
    assert won["state"] == "claimed" and lost["error"]["code"] == "conflict"
    assert lost["error"]["details"]["holder_id"] == won["agent_id"]
    agent = won["agent_id"]
    status, body = await api.get("/api/v1/agent/sessions/pending")
    assert status == 200 and body == []

    status, rec = await api.post(f"/api/v1/agent/sessions/{sid}/knowledge-recommend",
                                 {"query": "退货怎么操作", "top_k": 2})
    assert status == 200 and rec["total"] == len(rec["chunks"]) == 2
    assert "7天内可无理由退货" in rec["chunks"][0]["content"] and rec["chunks"][0]["source"]
    assert isinstance(rec["chunks"][0]["score"], float)

    status, assist = await api.post(f"/api/v1/agent/sessions/{sid}/business-assist",
                                    {"query": "订单20241102002到哪了"})
    assert status == 200 and assist["result"]["scene"] == "order_status" and assist["result"]["reply"]

    # The other agent may not write into a session he does not hold.
    status, body = await api.post(f"/api/v1/agent/sessions/{sid}/messages",
                                  {"content": "hi", "agent_id": "a_other"})
    assert status == 409
    status, sent = await api.post(f"/api/v1/agent/sessions/{sid}/messages",
                                  {"content": "您好，我是人工客服，公司暂无上市计划。", "agent_id": agent})
    assert status == 200 and sent == {"session_id": sid, "channel": "web", "pushed": False}

    status, detail = await api.get(f"/api/v1/agent/sessions/{sid}")
    assert status == 200 and detail["state"] == "claimed"
    roles = [(h["role"], h["content"]) for h in detail["history"]]
    assert ("user", "有人吗？") in roles and ("agent", "您好，我是人工客服，公司暂无上市计划。") in roles
    assert all("ts" in h for h in detail["history"])

    status, solution = await api.post(f"/api/v1/agent/sessions/{sid}/solution",
                                      {"question": "公司会上市吗", "solution": "暂无上市计划。", "intent": "faq"})
    assert status == 201 and solution["status"] == "pending" and solution["review_id"]
    assert solution["session_id"] == sid and solution["submitted_by"] == agent

    status, resolved = await api.post(f"/api/v1/agent/sessions/{sid}/resolve",
                                      {"note": "answered", "agent_id": agent})
    assert status == 200 and resolved["state"] == "resolved"
    status, again = await api.post(f"/api/v1/agent/sessions/{sid}/resolve", {"note": "twice"})
    assert status == 409 and again["error"]["code"] == "conflict"

    # A new question after the resolution is the bot's again.
    status, back = await api.post("/api/v1/chat", {"message": "发票怎么开？", "session_id": sid})
    assert status == 200 and "电子发票" in back["reply"] and back["data"]["state"] == "bot"

    status, traces = await api.get("/api/v1/monitor/traces?limit=3")
    assert status == 200 and traces["total"] == 3 and traces["traces"][0]["session_id"] == sid
    trace_id = back["data"]["trace_id"]
    status, trace = await api.get(f"/api/v1/monitor/traces/{trace_id}")
    assert status == 200 and trace["trace_id"] == trace_id and trace["status"] == "ok"
    assert {"step", "duration_ms", "status"} <= set(trace["steps"][0]) and trace["start_time"]
