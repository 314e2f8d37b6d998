"""Event delivery to a bot endpoint verified by the real lark.EventDispatcherHandler."""

from __future__ import annotations

import json
from dataclasses import replace

import lark_oapi as lark
import pytest
from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody

from emulator import Emulator
from tests.emulator.conftest import Receiver, call

pytestmark = pytest.mark.integration


async def test_message_event_round_trip_through_sdk_dispatcher(emulator: Emulator, receiver: Receiver):
    out = await emulator.send_user_message("ou_alice", "hello bot", chat_type="group", mention_bot=True, wait=True)
    assert out["deliveries"][0]["status"] == 200
    [got] = receiver.of_type("im.message.receive_v1")
    data = got["data"]
    assert got["event_id"] == out["event_id"]
    assert data.header.token == emulator.config.verification_token
    assert data.header.app_id == emulator.config.app_id
    msg = data.event.message
    assert msg.message_id == out["message_id"] and msg.chat_id == out["chat_id"] and msg.chat_type == "group"
    assert json.loads(msg.content) == {"text": "@_user_1 hello bot"}
    assert msg.mentions[0].key == "@_user_1" and msg.mentions[0].id.open_id == emulator.config.bot_open_id
    assert data.event.sender.sender_id.open_id == "ou_alice" and data.event.sender.sender_type == "user"
    rec = emulator.deliveries("im.message.receive_v1")[0]
    assert rec["attempt"] == 1 and rec["response_body"] == {"msg": "success"} and rec["latency_ms"] > 0

    # a reply in the thread carries root_id / parent_id
    reply = await emulator.send_user_message(
        "ou_alice", "more", chat_type="group", chat_id=out["chat_id"], root_id=out["message_id"], wait=True
    )
    later = receiver.of_type("im.message.receive_v1")[1]["data"].event.message
    assert later.message_id == reply["message_id"]
    assert later.root_id == out["message_id"] and later.parent_id == out["message_id"]
    assert later.mentions is None


async def test_wrong_keys_are_rejected_by_the_bot(emulator: Emulator, receiver: Receiver):
    # retries far away: only first attempts happen in this test
    emulator.deliverer.config = replace(emulator.config, encrypt_key="not-the-key", retry_time_scale=100)
    out = await emulator.send_user_message("ou_x", "hi", wait=True)
    assert out["deliveries"][0]["status"] == 500 and receiver.events == []
    emulator.deliverer.config = replace(emulator.config, verification_token="wrong-token", retry_time_scale=100)
    out = await emulator.send_user_message("ou_x", "hi", wait=True)
    assert out["deliveries"][0]["status"] == 500 and receiver.events == []


async def test_url_verification_encrypted(emulator: Emulator, receiver: Receiver):
    res = await emulator.url_verification("chal-123")
    assert res["ok"] is True and res["response"] == {"challenge": "chal-123"}


async def test_retries_on_500_at_scaled_schedule(emulator: Emulator, receiver: Receiver):
    receiver.fail_next = 2
    out = await emulator.send_user_message("ou_retry", "again?")
    await emulator.wait_idle(5)
    recs = emulator.deliveries("im.message.receive_v1")
    assert [(r["attempt"], r["status"]) for r in recs] == [(1, 500), (2, 500), (3, 200)]
    assert {r["event_id"] for r in recs} == {out["event_id"]}
    gap1, gap2 = recs[1]["time"] - recs[0]["time"], recs[2]["time"] - recs[1]["time"]
    assert 0.013 <= gap1 < 0.25  # 15 s x 0.001
    assert 0.29 <= gap2 < 1.0  # 5 min x 0.001
    assert len(receiver.of_type("im.message.receive_v1")) == 1


async def test_retries_stop_after_four(emulator: Emulator, receiver: Receiver):
    emulator.set_delivery(retry_time_scale=0.00001)
    receiver.fail_next = 100
    await emulator.send_event("larkdesk.test_v1", {"k": 1})
    await emulator.wait_idle(5)
    assert [r["attempt"] for r in emulator.deliveries("larkdesk.test_v1")] == [1, 2, 3, 4, 5]


async def test_timeout_counts_as_failure(emulator: Emulator, receiver: Receiver):
    emulator.config.delivery_timeout_s = 0.1
    emulator.set_delivery(retry_time_scale=0.0)
    receiver.delay_s = 0.3
    await emulator.send_event("larkdesk.test_v1", {"k": 1})
    await emulator.deliverer.wait_idle(3)  # first attempt only matters; retries also time out
    first = emulator.deliveries("larkdesk.test_v1")[0]
    assert first["status"] is None and "timeout" in first["error"]


async def test_duplicates_and_reorder(emulator: Emulator, receiver: Receiver):
    emulator.set_delivery(duplicates=3)
    out = await emulator.send_event("larkdesk.test_v1", {"n": 0}, wait=True)
    got = receiver.of_type("larkdesk.test_v1")
    assert len(got) == 3 and {g["event_id"] for g in got} == {out["event_id"]}
    assert [r["copy"] for r in out["deliveries"]] == [0, 1, 2]

    receiver.events.clear()
    emulator.set_delivery(duplicate_new_event_id=True)
    out = await emulator.send_user_message("ou_dup", "same message", wait=True)
    got = receiver.of_type("im.message.receive_v1")
    assert len({g["event_id"] for g in got}) == 3 and got[0]["event_id"] == out["event_id"]
    assert {g["data"].event.message.message_id for g in got} == {out["message_id"]}

    receiver.events.clear()
    emulator.set_delivery(duplicates=1, reorder=True)
    batch = await emulator.send_events(
        [{"event_type": "larkdesk.test_v1", "event": {"n": i}} for i in range(8)], wait=True
    )
    order = [g["data"].event["n"] for g in receiver.of_type("larkdesk.test_v1")]
    assert sorted(order) == list(range(8)) and order != list(range(8))
    assert len(set(batch["event_ids"])) == 8


async def test_unknown_event_type_is_delivered(emulator: Emulator, receiver: Receiver):
    out = await emulator.send_event("some.unknown_v9", {"x": 1}, wait=True)
    assert out["deliveries"][0]["status"] == 500  # the SDK has no processor: Feishu would retry


async def test_card_click_response_applied_and_delayed_update(emulator: Emulator, receiver: Receiver, sdk: lark.Client):
    card = {
        "schema": "2.0",
        "config": {"update_multi": True},
        "body": {
            "elements": [
                {"tag": "markdown", "element_id": "q", "content": "Need a human?"},
                {
                    "tag": "button",
                    "element_id": "claim",
                    "text": {"tag": "plain_text", "content": "Claim"},
                    "behaviors": [{"type": "callback", "value": {"action": "claim"}}],
                },
            ]
        },
    }
    sent = await call(
        sdk.im.v1.message.create,
        CreateMessageRequest.builder()
        .receive_id_type("open_id")
        .request_body(
            CreateMessageRequestBody.builder()
            .receive_id("ou_agent")
            .msg_type("interactive")
            .content(json.dumps(card))
            .build()
        )
        .build(),
    )
    assert sent.success(), sent.msg
    new_card = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "Claimed by Tom"}]}}
    receiver.card_response = lambda d: {
        "toast": {"type": "success", "content": f"ok {d.event.action.value}"},
        "card": {"type": "raw", "data": new_card},
    }
    res = await emulator.click_card(sent.data.message_id, "ou_tom", {"action": "claim"})
    assert res["status"] == 200 and res["applied"] is True
    assert res["toast"] == {"type": "success", "content": "ok {'action': 'claim'}"}
    [click] = receiver.of_type("card.action.trigger")
    ev = click["data"].event
    assert ev.operator.open_id == "ou_tom" and ev.token.startswith("c-")
    assert ev.context.open_message_id == sent.data.message_id and ev.context.open_chat_id == sent.data.chat_id
    assert emulator.message(sent.data.message_id)["text"] == "Claimed by Tom"

    with pytest.raises(ValueError, match="no interactive element"):
        await emulator.click_card(sent.data.message_id, "ou_tom", {"action": "claim"})  # button is gone

    # delayed update with the callback token: 2 uses
    async def delayed(text: str) -> int:
        import aiohttp

        tok = sdk._config  # noqa: F841 - the SDK has no typed API for this endpoint; use raw HTTP
        async with aiohttp.ClientSession() as s:
            async with s.post(
                emulator.base_url + "/open-apis/auth/v3/tenant_access_token/internal",
                json={"app_id": emulator.config.app_id, "app_secret": emulator.config.app_secret},
            ) as r:
                bearer = (await r.json())["tenant_access_token"]
            async with s.post(
                emulator.base_url + "/open-apis/interactive/v1/card/update",
                headers={"Authorization": f"Bearer {bearer}"},
                json={
                    "token": ev.token,
                    "card": {
                        "type": "raw",
                        "data": {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": text}]}},
                    },
                },
            ) as r:
                return (await r.json())["code"]

    assert await delayed("later 1") == 0
    assert await delayed("later 2") == 0
    assert await delayed("later 3") == 300040
    assert emulator.message(sent.data.message_id)["text"] == "later 2"

    # a failing callback is not retried
    receiver.fail_next = 1
    n = len(emulator.deliveries(kind="card"))
    res = await emulator.click_card(sent.data.message_id, "ou_tom", {"any": 1}, strict=False)
    assert res["status"] == 500 and res["applied"] is False
    await emulator.wait_idle(2)
    assert len(emulator.deliveries(kind="card")) == n + 1


async def test_doc_edit_events_to_subscribers(emulator: Emulator, receiver: Receiver):
    doc = emulator.create_doc("FAQ", [{"type": "text", "text": "a"}])
    await emulator.edit_doc(
        doc["document_id"], [{"op": "update_text", "block_id": doc["block_ids"][0], "text": "b"}], wait=True
    )
    assert receiver.events == []  # nobody subscribed
    emulator.state.subscriptions[doc["document_id"]] = "docx"
    change = await emulator.edit_doc(doc["document_id"], [{"op": "set_title", "title": "FAQ 2"}], wait=True)
    assert change["revision_id"] == 3
    assert [e["type"] for e in receiver.events] == ["drive.file.edit_v1", "drive.file.title_updated_v1"]
    edit = receiver.events[0]["data"].event
    assert edit.file_token == doc["document_id"] and edit.file_type == "docx"
    assert edit.operator_id_list[0].open_id == "ou_editor"
    await emulator.trash_doc(doc["document_id"], wait=True)
    await emulator.delete_doc(doc["document_id"], wait=True)
    assert [e["type"] for e in receiver.events][2:] == ["drive.file.trashed_v1", "drive.file.deleted_v1"]


async def test_menu_and_p2p_entered(emulator: Emulator, receiver: Receiver):
    await emulator.send_menu_event("ou_m", "contact_human", wait=True)
    out = await emulator.enter_p2p_chat("ou_m", wait=True)
    menu, entered = receiver.events
    assert menu["data"].event.event_key == "contact_human"
    assert menu["data"].event.operator.operator_id.open_id == "ou_m"
    assert entered["data"].event.chat_id == out["chat_id"]
