"""The simulator page's server side: the page and its modules served as they are, and the read-only live
feed (Server-Sent Events) that tells the page every change of the emulator's state."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from emulator import Emulator
from emulator.live import LiveFeed
from tests.emulator.conftest import Receiver

pytestmark = pytest.mark.integration

STATIC = Path(__file__).resolve().parents[2] / "emulator" / "static"


class Feed:
    """A client of /_emulator/stream that parses SSE frames."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout_s: float = 5.0) -> tuple[str, dict]:
        kind, data = "message", []
        async with asyncio.timeout(timeout_s):
            while True:
                line = (await self.response.content.readline()).decode()
                if line == "":
                    raise EOFError("stream ended")
                line = line.rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    return kind, json.loads("\n".join(data))

    async def until(self, kind: str, pred=lambda d: True, timeout_s: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            got_kind, data = await self.next(max(0.01, deadline - time.monotonic()))
            if got_kind == kind and pred(data):
                return data


async def _token(s: aiohttp.ClientSession, emulator: Emulator) -> str:
    async with s.post(emulator.base_url + "/open-apis/auth/v3/tenant_access_token/internal",
                      json={"app_id": emulator.config.app_id, "app_secret": emulator.config.app_secret}) as r:
        return (await r.json())["tenant_access_token"]


async def test_the_page_and_its_modules_are_served_without_a_build(emulator: Emulator):
    async with aiohttp.ClientSession() as s:
        async with s.get(emulator.base_url + "/") as r:
            assert r.status == 200 and r.content_type == "text/html"
            html = await r.text()
        assert '<script type="module" src="/simulator/js/app.js">' in html
        for module in sorted((STATIC / "js").glob("*.js")):
            async with s.get(f"{emulator.base_url}/simulator/js/{module.name}") as r:
                assert r.status == 200, module.name
                assert r.content_type in ("application/javascript", "text/javascript")
                assert r.headers["Cache-Control"] == "no-cache"
                assert await r.text() == module.read_text(encoding="utf-8")
        async with s.get(emulator.base_url + "/simulator/simulator.css") as r:
            assert r.status == 200 and r.content_type == "text/css"
        # imports between modules resolve to files that exist
        for module in (STATIC / "js").glob("*.js"):
            for line in module.read_text(encoding="utf-8").splitlines():
                if line.startswith("import ") and " from " in line:
                    target = line.split(" from ")[1].strip(' ";')
                    assert (STATIC / "js" / target).is_file(), f"{module.name} imports {target}"
        async with s.get(emulator.base_url + "/simulator/nope.js") as r:
            assert r.status == 404 and "error" in await r.json()
        async with s.get(emulator.base_url + "/simulator/%2e%2e/state.py") as r:
            assert r.status in (403, 404)


async def test_the_feed_starts_with_a_snapshot_then_sends_each_change(emulator: Emulator):
    emulator.create_group("oc_agents", "Agents", members=["ou_ann"], names={"ou_ann": "Ann"})
    doc = emulator.create_doc("手册", [{"type": "heading1", "text": "取件"}, "48小时内上门"])
    first = await emulator.send_user_message("ou_cust", "你好")
    async with aiohttp.ClientSession() as s, s.get(emulator.base_url + "/_emulator/stream") as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        feed = Feed(r)
        kind, snap = await feed.next()
        assert kind == "snapshot"
        assert snap["config"]["bot_open_id"] == emulator.config.bot_open_id
        assert snap["defaults"] == {"agent_chat_id": "oc_agents", "admin_open_id": "ou_admin"}
        assert snap["users"]["ou_ann"] == "Ann"
        assert {c["chat_id"] for c in snap["chats"]} == {"oc_agents", first["chat_id"]}
        assert [m["text"] for m in snap["messages"]] == ["你好"]
        [doc_view] = snap["docs"]
        assert doc_view["document_id"] == doc["document_id"] and not doc_view["subscribed"]
        assert [b["block_type"] for b in doc_view["blocks"]] == [1, 3, 2]

        # a user message: its chat, then the message
        sent = await emulator.send_user_message("ou_cust", "退货", user_name="张三")
        chat = await feed.until("chat")
        assert chat["chat_id"] == first["chat_id"] and chat["message_count"] == 2
        event = await feed.until("message")
        assert event["message"]["message_id"] == sent["message_id"] and event["sender_name"] == "张三"

        # the bot's reply, then a CardKit card streamed into another message, as the page must show them
        tok = await _token(s, emulator)
        auth = {"Authorization": f"Bearer {tok}"}
        card = {"schema": "2.0", "config": {"streaming_mode": True, "update_multi": True},
                "body": {"elements": [{"tag": "markdown", "element_id": "answer", "content": "正在"}]}}
        async with s.post(emulator.base_url + "/open-apis/cardkit/v1/cards", headers=auth,
                          json={"type": "card_json", "data": json.dumps(card)}) as resp:
            card_id = (await resp.json())["data"]["card_id"]
        async with s.post(f"{emulator.base_url}/open-apis/im/v1/messages/{sent['message_id']}/reply", headers=auth,
                          json={"msg_type": "interactive",
                                "content": json.dumps({"type": "card", "data": {"card_id": card_id}})}) as resp:
            reply_id = (await resp.json())["data"]["message_id"]
        event = await feed.until("message", lambda d: d["message"]["message_id"] == reply_id)
        assert event["message"]["content"]["body"]["elements"][0]["content"] == "正在"
        async with s.put(f"{emulator.base_url}/open-apis/cardkit/v1/cards/{card_id}/elements/answer/content",
                         headers=auth, json={"content": "正在为您查询", "sequence": 1}) as resp:
            assert (await resp.json())["code"] == 0
        event = await feed.until("message", lambda d: d["message"]["message_id"] == reply_id)
        assert event["message"]["content"]["body"]["elements"][0]["content"] == "正在为您查询"
        assert event["message"]["card_id"] == card_id

        # a card click's answer replaces the card: the page sees the new one
        msg = emulator.state.messages[reply_id]
        emulator.apply_card_response(msg, {"type": "raw", "data": {"schema": "2.0", "body": {"elements": [
            {"tag": "markdown", "content": "done"}]}}})
        event = await feed.until("message", lambda d: d["message"]["message_id"] == reply_id)
        assert event["message"]["text"] == "done" and event["message"]["updated"]

        # members join; docs are edited, subscribed, deleted
        emulator.add_chat_members("oc_agents", ["ou_bob"], {"ou_bob": "Bob"})
        chat = await feed.until("chat", lambda d: d["chat_id"] == "oc_agents")
        assert chat["member_names"] == {"ou_ann": "Ann", "ou_bob": "Bob"}
        await emulator.edit_doc(doc["document_id"], [{"op": "update_text", "block_id": doc["block_ids"][1],
                                                      "text": "24小时内上门"}])
        view = await feed.until("doc")
        assert view["revision_id"] == 2 and view["blocks"][2]["text"]["elements"][0]["text_run"]["content"] == \
            "24小时内上门"
        async with s.post(f"{emulator.base_url}/open-apis/drive/v1/files/{doc['document_id']}/subscribe",
                          params={"file_type": "docx"}, headers=auth) as resp:
            assert (await resp.json())["code"] == 0
        assert (await feed.until("doc"))["subscribed"] is True
        await emulator.delete_doc(doc["document_id"])
        assert await feed.until("doc") == {"document_id": doc["document_id"], "deleted": True}

        # a reset sends a fresh, empty snapshot
        await emulator.reset()
        snap = await feed.until("snapshot")
        assert snap["chats"] == [] and snap["messages"] == [] and snap["docs"] == []


async def test_open_streams_end_when_the_emulator_stops():
    emulator = Emulator()
    await emulator.start()
    async with aiohttp.ClientSession() as s, s.get(emulator.base_url + "/_emulator/stream") as r:
        feed = Feed(r)
        assert (await feed.next())[0] == "snapshot"
        assert emulator.live.subscribers == 1
        started = time.monotonic()
        await emulator.stop()
        assert time.monotonic() - started < 3
        with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
            await feed.next(2)
    assert emulator.live.subscribers == 0


async def test_a_subscriber_that_falls_behind_is_dropped(monkeypatch):
    monkeypatch.setattr("emulator.live.QUEUE_LIMIT", 3)
    emulator = Emulator()
    await emulator.start()
    try:
        async with aiohttp.ClientSession() as s, s.get(emulator.base_url + "/_emulator/stream") as r:
            feed = Feed(r)
            assert (await feed.next())[0] == "snapshot"
            # nothing reads the queue while the loop is busy: five changes overflow a queue of three
            for n in range(5):
                emulator.create_group(f"oc_g{n}", f"g{n}")
            assert emulator.live.subscribers == 0
            with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
                while True:
                    await feed.next(2)
    finally:
        await emulator.stop()


async def test_the_feed_costs_nothing_without_subscribers(emulator: Emulator, monkeypatch):
    built = []
    monkeypatch.setattr(LiveFeed, "_publish", lambda self, kind, data: built.append(kind))
    await emulator.send_user_message("ou_cust", "你好")
    emulator.create_doc("d", ["x"])
    assert built == []


async def test_entering_a_p2p_chat_can_name_the_user(emulator: Emulator, receiver: Receiver):
    async with aiohttp.ClientSession() as s:
        async with s.post(emulator.base_url + "/_emulator/users/enter_p2p",
                          json={"open_id": "ou_zhang", "user_name": "张三", "wait": True}) as r:
            assert r.status == 200 and (await r.json())["chat_id"].startswith("oc_")
    assert emulator.state.users["ou_zhang"].name == "张三"
    assert len(receiver.of_type("im.chat.access_event.bot_p2p_chat_entered_v1")) == 1


async def test_a_select_outside_a_form_sends_its_option(emulator: Emulator, receiver: Receiver):
    tok_card = {"schema": "2.0", "body": {"elements": [
        {"tag": "select_static", "name": "size", "behaviors": [{"type": "callback", "value": {"action": "size"}}],
         "options": [{"text": {"tag": "plain_text", "content": "S"}, "value": "s"},
                     {"text": {"tag": "plain_text", "content": "M"}, "value": "m"}]}]}}
    chat = emulator.state.p2p_chat("ou_cust")
    from emulator.state import Message

    now = int(time.time() * 1000)
    msg = emulator.state.add_message(Message("om_sel", chat.chat_id, "interactive", json.dumps(tok_card), "app",
                                             emulator.config.app_id, now, now))
    async with aiohttp.ClientSession() as s:
        async with s.post(emulator.base_url + "/_emulator/cards/click",
                          json={"message_id": msg.message_id, "open_id": "ou_cust", "value": {"action": "size"},
                                "tag": "select_static", "option": "m"}) as r:
            assert r.status == 200 and (await r.json())["status"] == 200
        async with s.post(emulator.base_url + "/_emulator/cards/click",
                          json={"message_id": msg.message_id, "open_id": "ou_cust", "value": {"action": "size"},
                                "options": "m"}) as r:
            assert r.status == 400 and "options must be a list" in (await r.json())["error"]
    [event] = receiver.of_type("card.action.trigger")
    action = event["data"].event.action
    assert (action.tag, action.option, action.value) == ("select_static", "m", {"action": "size"})
