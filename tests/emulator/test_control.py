"""The /_emulator/ control API over HTTP."""

from __future__ import annotations

import json

import aiohttp
import pytest

from emulator import Emulator
from tests.emulator.conftest import Receiver

pytestmark = pytest.mark.integration


async def _j(s: aiohttp.ClientSession, method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    async with s.request(method, url, json=body) as r:
        return r.status, await r.json()


async def test_control_flow_over_http(emulator: Emulator, receiver: Receiver):
    base = emulator.base_url + "/_emulator"
    async with aiohttp.ClientSession() as s:
        status, out = await _j(
            s, "POST", base + "/users/messages", {"open_id": "ou_h", "text": "hi", "chat_type": "p2p", "wait": True}
        )
        assert status == 200 and out["message_id"].startswith("om_") and out["event_id"]
        status, chats = await _j(s, "GET", base + "/chats")
        assert [c["chat_id"] for c in chats["items"]] == [out["chat_id"]]
        assert chats["items"][0]["chat_type"] == "p2p"

        # the bot answers through the Open API; the chat shows both, in order
        async with s.post(
            emulator.base_url + "/open-apis/auth/v3/tenant_access_token/internal",
            json={"app_id": emulator.config.app_id, "app_secret": emulator.config.app_secret},
        ) as r:
            tok = (await r.json())["tenant_access_token"]
        card = {
            "config": {"update_multi": True},
            "elements": [
                {
                    "tag": "action",
                    "actions": [
                        {"tag": "button", "text": {"tag": "plain_text", "content": "Yes"}, "value": {"helpful": "yes"}}
                    ],
                }
            ],
        }
        async with s.post(
            emulator.base_url + "/open-apis/im/v1/messages/" + out["message_id"] + "/reply",
            headers={"Authorization": f"Bearer {tok}"},
            json={"msg_type": "interactive", "content": json.dumps(card), "uuid": "r-1"},
        ) as r:
            reply = (await r.json())["data"]
        status, msgs = await _j(s, "GET", base + f"/chats/{out['chat_id']}/messages")
        items = msgs["items"]
        assert [(m["sender"]["type"], m["msg_type"]) for m in items] == [("user", "text"), ("app", "interactive")]
        assert items[0]["content"] == {"text": "hi"} and items[0]["sender"]["open_id"] == "ou_h"
        assert items[1]["parent_id"] == out["message_id"] and items[1]["uuid"] == "r-1"

        receiver.card_response = {"toast": {"type": "info", "content": "Thanks"}}
        status, click = await _j(
            s,
            "POST",
            base + "/cards/click",
            {"message_id": reply["message_id"], "open_id": "ou_h", "value": {"helpful": "yes"}},
        )
        assert status == 200 and click["toast"] == {"type": "info", "content": "Thanks"} and click["status"] == 200
        status, err = await _j(
            s,
            "POST",
            base + "/cards/click",
            {"message_id": reply["message_id"], "open_id": "ou_h", "value": {"nope": 1}},
        )
        assert status == 400 and "no interactive element" in err["error"]

        status, res = await _j(s, "POST", base + "/url_verification", {"challenge": "abc"})
        assert res["ok"] is True
        status, res = await _j(
            s, "POST", base + "/events", {"event_type": "larkdesk.test_v1", "event": {"a": 1}, "wait": True}
        )
        assert res["deliveries"][0]["status"] == 200
        assert receiver.of_type("larkdesk.test_v1")[0]["data"].event == {"a": 1}
        status, dels = await _j(s, "GET", base + "/deliveries?event_type=larkdesk.test_v1")
        assert [d["event_id"] for d in dels["items"]] == [res["event_id"]]

        status, reqs = await _j(s, "GET", base + "/requests?path_prefix=/open-apis/im/")
        assert [r["path"] for r in reqs["items"]] == [f"/open-apis/im/v1/messages/{out['message_id']}/reply"]

        # docs and wiki
        status, doc = await _j(
            s,
            "POST",
            base + "/docs",
            {
                "title": "Policy",
                "blocks": [
                    {"type": "heading1", "text": "Refunds"},
                    {"type": "text", "text": "30 days"},
                    {"type": "table", "rows": [["a", "b"]]},
                ],
            },
        )
        assert status == 200 and len(doc["block_ids"]) == 3
        status, change = await _j(
            s,
            "POST",
            base + f"/docs/{doc['document_id']}/edit",
            {"ops": [{"op": "insert", "after": doc["block_ids"][1], "blocks": [{"type": "bullet", "text": "new"}]}]},
        )
        assert change["revision_id"] == 2
        status, space = await _j(s, "POST", base + "/wiki/spaces", {"name": "KB"})
        status, node = await _j(
            s, "POST", base + f"/wiki/spaces/{space['space_id']}/nodes", {"document_id": doc["document_id"]}
        )
        assert node["title"] == "Policy" and node["obj_type"] == "docx"
        status, err = await _j(s, "POST", base + f"/docs/{doc['document_id']}/edit", {"ops": [{"op": "explode"}]})
        assert status == 400 and "unknown op" in err["error"]

        # faults and delivery settings
        status, fault = await _j(
            s,
            "POST",
            base + "/faults",
            {"path_prefix": "/open-apis/im/", "kind": "rate_limit", "count": 1, "reset_s": 3},
        )
        assert fault["count"] == 1
        async with s.get(
            emulator.base_url + f"/open-apis/im/v1/messages/{out['message_id']}",
            headers={"Authorization": f"Bearer {tok}"},
        ) as r:
            assert r.status == 429 and r.headers["x-ogw-ratelimit-reset"] == "3"
            assert (await r.json())["code"] == 99991400
        await _j(s, "POST", base + "/faults", {"path_prefix": "/open-apis/", "kind": "server_error", "count": 5})
        status, _ = await _j(s, "DELETE", base + "/faults")
        async with s.get(
            emulator.base_url + f"/open-apis/im/v1/messages/{out['message_id']}",
            headers={"Authorization": f"Bearer {tok}"},
        ) as r:
            assert r.status == 200
        status, settings = await _j(s, "POST", base + "/delivery", {"duplicates": 2, "reorder": True, "delay_s": 0})
        assert settings["duplicates"] == 2 and settings["reorder"] is True

        status, _ = await _j(s, "POST", base + "/reset")
        status, chats = await _j(s, "GET", base + "/chats")
        assert chats["items"] == [] and emulator.state.requests == []
        status, err = await _j(s, "GET", base + "/chats/oc_nope/messages")
        assert status == 404


async def test_group_messages_and_scope(emulator: Emulator, receiver: Receiver):
    a = await emulator.send_user_message("ou_a", "no mention", chat_type="group", wait=True)
    assert a["event_id"] is not None
    emulator.config.receive_all_group_messages = False
    b = await emulator.send_user_message("ou_b", "still no mention", chat_type="group", wait=True)
    assert b["event_id"] is None and b["chat_id"] == a["chat_id"]
    c = await emulator.send_user_message("ou_b", "hey", chat_type="group", mention_bot=True, wait=True)
    assert c["event_id"] is not None
    assert [m["text"] for m in emulator.chat_messages(a["chat_id"])] == [
        "no mention",
        "still no mention",
        "@_user_1 hey",
    ]
    assert len(receiver.of_type("im.message.receive_v1")) == 2
    seen = await emulator.wait_for_message(lambda m: m["text"].endswith("hey"), timeout_s=1)
    assert seen["message_id"] == c["message_id"] and seen["mentions"][0]["name"] == emulator.config.bot_name


async def test_serve_blocks_until_stopped():
    import asyncio
    import socket

    from emulator import EmulatorConfig
    from emulator.runner import serve

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(serve(EmulatorConfig(), "127.0.0.1", port, stop))
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                try:
                    async with s.get(f"http://127.0.0.1:{port}/_emulator/health") as r:
                        assert (await r.json()) == {"ok": True}
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            else:
                raise AssertionError("emulator did not start")
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
