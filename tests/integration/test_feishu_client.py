"""The outbound client on the real lark-oapi SDK against the emulator: errors, retries, limits, tokens."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from config.settings import EmulatorDefaults
from feishu import FeishuAPIError, FeishuClient

pytestmark = pytest.mark.integration


def client(emulator, **kw) -> FeishuClient:
    # A fresh app id per test keeps the SDK's process-wide token cache from leaking between tests.
    emulator.config.app_id = f"cli_{uuid.uuid4().hex[:12]}"
    return FeishuClient(emulator.config.app_id, EmulatorDefaults.app_secret, emulator.base_url, **kw)


async def test_send_reply_patch_and_uuid_idempotency(emulator):
    feishu = client(emulator)
    chat = emulator.create_group(name="agents", members=["ou_a"])
    first = await feishu.send_text(chat["chat_id"], "hello", uuid="u-1")
    again = await feishu.send_text(chat["chat_id"], "hello", uuid="u-1")
    assert first["message_id"] == again["message_id"]
    card = {"schema": "2.0", "config": {"update_multi": True},
            "body": {"elements": [{"tag": "markdown", "element_id": "m", "content": "v1"}]}}
    sent = await feishu.send_card(chat["chat_id"], card)
    card["body"]["elements"][0]["content"] = "v2"
    await feishu.patch_card(sent["message_id"], card)
    texts = [m["text"] for m in emulator.chat_messages(chat["chat_id"])]
    assert texts[0] == "hello" and "v2" in texts[1] and len(texts) == 2


async def test_errors_are_typed_with_code_msg_and_log_id(emulator):
    feishu = client(emulator)
    with pytest.raises(FeishuAPIError) as info:
        await feishu.reply_text("om_does_not_exist", "hi")
    assert info.value.code != 0 and info.value.msg and info.value.log_id


async def test_server_errors_are_retried(emulator):
    feishu = client(emulator)
    chat = emulator.create_group(name="g", members=["ou_a"])
    emulator.add_fault("/open-apis/im/v1/messages", "server_error", count=2, method="POST")
    await feishu.send_text(chat["chat_id"], "after two 500s", uuid="u-500")
    statuses = [r["status"] for r in emulator.requests("/open-apis/im/v1/messages", method="POST")]
    assert statuses == [500, 500, 200]
    assert [m["text"] for m in emulator.chat_messages(chat["chat_id"])] == ["after two 500s"]


async def test_per_chat_rate_stays_under_five_per_second(emulator):
    feishu = client(emulator, chat_qps=5)
    chat = emulator.create_group(name="g", members=["ou_a"])
    started = time.monotonic()
    await asyncio.gather(*(feishu.send_text(chat["chat_id"], f"m{i}") for i in range(12)))
    elapsed = time.monotonic() - started
    codes = [r["code"] for r in emulator.requests("/open-apis/im/v1/messages", method="POST")]
    assert codes == [0] * 12  # never hit Feishu's 230020
    assert elapsed >= 2.0  # 5 at once, 5 a second later, the last 2 after another second


async def test_slow_token_endpoint_never_blocks_the_event_loop(emulator):
    feishu = client(emulator)
    chat = emulator.create_group(name="g", members=["ou_a"])
    emulator.add_fault("/open-apis/auth/v3/tenant_access_token", "delay", count=1, delay_s=1.0)
    worst_lag = 0.0

    async def ticker():
        nonlocal worst_lag
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst_lag = max(worst_lag, time.monotonic() - before - 0.01)

    tick = asyncio.create_task(ticker())
    await feishu.send_text(chat["chat_id"], "cold token")
    tick.cancel()
    assert worst_lag < 0.3, f"event loop blocked for {worst_lag:.2f}s"
    assert [m["text"] for m in emulator.chat_messages(chat["chat_id"])] == ["cold token"]


async def test_docx_blocks_paginate_and_wiki_nodes_list(emulator):
    feishu = client(emulator)
    doc = emulator.create_doc("手册", [{"type": "heading1", "text": "退货"}] +
                              [{"type": "text", "text": f"第{i}段"} for i in range(12)])
    blocks = await feishu.list_blocks(doc["document_id"], page_size=5)
    assert len(blocks) == 14 and blocks[0]["block_type"] == 1
    assert (await feishu.get_document(doc["document_id"]))["title"] == "手册"
    assert "第11段" in await feishu.get_raw_content(doc["document_id"])
    space = emulator.create_wiki_space("KB")
    node = emulator.create_wiki_node(space["space_id"], doc["document_id"], title="手册")
    assert (await feishu.get_wiki_node(node["node_token"]))["obj_token"] == doc["document_id"]
    assert [n["node_token"] for n in await feishu.list_wiki_nodes(space["space_id"])] == [node["node_token"]]
    await feishu.subscribe_file(doc["document_id"])


async def test_chat_members_over_all_pages(emulator):
    feishu = client(emulator)
    open_ids = [f"ou_u{i:03d}" for i in range(130)]
    names = {o: f"用户{o[-3:]}" for o in open_ids}
    chat = emulator.create_group(name="g", members=[*open_ids, emulator.config.bot_open_id], names=names)
    members = await feishu.chat_members(chat["chat_id"])
    assert members == [{"open_id": o, "name": names[o]} for o in open_ids]  # the bot is never a member here
    pages = emulator.requests(f"/open-apis/im/v1/chats/{chat['chat_id']}/members", method="GET")
    assert [r["query"].get("page_size") for r in pages] == ["100", "100"]
    with pytest.raises(FeishuAPIError) as info:
        await feishu.chat_members("oc_missing")
    assert info.value.code == 232006


async def test_reply_in_thread_is_opt_in(emulator):
    feishu = client(emulator)
    sent = await emulator.send_user_message("ou_t", "question", chat_type="group", mention_bot=True)
    plain = await feishu.reply_text(sent["message_id"], "in the chat")
    threaded = await feishu.reply_text(sent["message_id"], "in a thread", reply_in_thread=True)
    card = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "card"}]}}
    threaded_card = await feishu.reply(sent["message_id"], "interactive", card, reply_in_thread=True)
    bodies = [r["body"] for r in emulator.requests(f"/open-apis/im/v1/messages/{sent['message_id']}/reply")]
    assert [b["reply_in_thread"] for b in bodies] == [False, True, True]
    assert plain.get("thread_id") is None
    assert threaded["thread_id"].startswith("omt_") and threaded_card["thread_id"] == threaded["thread_id"]
