"""One desk, two channels: REST sessions reach the Feishu agent group, Feishu sessions are served over REST."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.integration.conftest import AGENT_CHAT

pytestmark = pytest.mark.integration


def is_card_of(session_id: str):
    return lambda m: (m["chat_id"] == AGENT_CHAT and m["msg_type"] == "interactive" and not m.get("parent_id")
                      and session_id in json.dumps(m["content"]))


async def test_rest_escalation_is_claimed_from_the_card_then_the_api_gets_409(desk_server, emulator):
    _, base = desk_server
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/chat", json={"message": "转人工"}) as resp:
            body = await resp.json()
        sid = body["session_id"]
        assert body["data"]["escalate_to_human"] and body["data"]["escalation_card"]["session_id"] == sid
        card = await emulator.wait_for_message(is_card_of(sid), 10)
        clicked = await emulator.click_card(card["message_id"], "ou_agent_ann", {"action": "claim", "session": sid})
        assert clicked["toast"]["type"] == "success"
        async with http.post(f"{base}/api/v1/agent/sessions/{sid}/accept", json={"agent_id": "api-agent"}) as resp:
            assert resp.status == 409
            assert (await resp.json())["error"]["code"] == "conflict"
        # The agent's thread reply reaches the web customer's history.
        await emulator.send_user_message("ou_agent_ann", "您好，这里是人工客服", chat_type="group", chat_id=AGENT_CHAT,
                                         root_id=card["message_id"])
        for _ in range(100):
            async with http.get(f"{base}/api/v1/agent/sessions/{sid}") as resp:
                history = (await resp.json())["history"]
            if any(h["role"] == "agent" for h in history):
                break
            await asyncio.sleep(0.05)
        assert history[-1] == {**history[-1], "role": "agent", "content": "您好，这里是人工客服"}


async def test_feishu_escalation_is_accepted_over_rest_and_the_card_follows(desk_server, emulator):
    services, base = desk_server
    asked = await emulator.send_user_message("ou_kim", "人工客服")
    await emulator.wait_for_message(lambda m: m["parent_id"] == asked["message_id"], 10)
    session = await services.desk.sessions.for_customer("feishu", "ou_kim", chat_id=asked["chat_id"])
    card = await emulator.wait_for_message(is_card_of(session.session_id), 10)
    async with aiohttp.ClientSession() as http:
        url = f"{base}/api/v1/agent/sessions/{session.session_id}"
        async with http.get(f"{base}/api/v1/agent/sessions/pending") as resp:
            assert [p["session_id"] for p in await resp.json()] == [session.session_id]
        async with http.post(f"{url}/accept", json={"agent_id": "ou_agent_bob", "agent_name": "Bob"}) as resp:
            assert resp.status == 200
        assert "处理中" in json.dumps(emulator.message(card["message_id"])["content"], ensure_ascii=False)
        clicked = await emulator.click_card(card["message_id"], "ou_agent_ann",  # from a card not yet refreshed
                                            {"action": "claim", "session": session.session_id}, strict=False)
        assert clicked["toast"]["type"] == "warning" and "Bob" in clicked["toast"]["content"]
        async with http.post(f"{url}/messages", json={"content": "我是 Bob，马上为您处理"}) as resp:
            assert resp.status == 200 and (await resp.json())["pushed"] is True
        await emulator.wait_for_message(lambda m: m["chat_id"] == asked["chat_id"] and "马上为您处理" in m["text"], 10)
        async with http.post(f"{url}/resolve", json={"note": "done", "agent_id": "ou_agent_bob"}) as resp:
            assert resp.status == 200
        await emulator.wait_for_message(
            lambda m: m["chat_id"] == asked["chat_id"] and m["msg_type"] == "interactive", 10)  # the CSAT card
        assert "已解决" in json.dumps(emulator.message(card["message_id"])["content"], ensure_ascii=False)


async def test_a_web_customer_polls_the_agents_replies(desk_server, emulator):
    _, base = desk_server
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/chat", json={"message": "转人工"}) as resp:
            sid = (await resp.json())["session_id"]
        async with http.get(f"{base}/api/v1/chat/{sid}/messages") as resp:
            first = await resp.json()
        assert first["state"] == "pending" and "人工客服" in first["messages"][-1]["content"]
        cursor = first["next_after_ms"]
        async with http.post(f"{base}/api/v1/agent/sessions/{sid}/accept", json={"agent_id": "a_lin",
                                                                                 "agent_name": "Lin"}) as resp:
            assert resp.status == 200
        async with http.post(f"{base}/api/v1/agent/sessions/{sid}/messages", json={"content": "您好，我是 Lin"}):
            pass
        async with http.get(f"{base}/api/v1/chat/{sid}/messages", params={"after_ms": cursor}) as resp:
            update = await resp.json()
        assert update["state"] == "claimed" and update["agent_name"] == "Lin"
        assert [m["content"] for m in update["messages"]][-1] == "您好，我是 Lin"
        assert all(m["ts"] * 1000 > cursor for m in update["messages"])
        async with http.get(f"{base}/api/v1/chat/{update['session_id']}/messages",
                            params={"after_ms": update["next_after_ms"]}) as resp:
            assert (await resp.json())["messages"] == []
        async with http.get(f"{base}/api/v1/chat/s_nope/messages") as resp:
            assert resp.status == 404
