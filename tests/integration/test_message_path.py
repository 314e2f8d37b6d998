"""A user message through the emulator's signed, encrypted deliveries ends in exactly one bot reply."""

from __future__ import annotations

import asyncio

import pytest

from bot.handlers.messages import MessageHandler, echo_responder
from bot.registry import HandlerRegistry
from bot.workers import WorkerPool

pytestmark = pytest.mark.integration


async def settle(stack, seconds: float = 0.3) -> None:
    await stack.emulator.wait_idle(10)
    await asyncio.sleep(seconds)


async def test_p2p_text_gets_one_reply(stack):
    sent = await stack.emulator.send_user_message("ou_alice", "你好，想问一下退货流程")
    reply = await stack.emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 10)
    assert reply["sender"]["type"] == "app"
    assert reply["text"] == "收到：你好，想问一下退货流程"
    assert reply["uuid"] == f"r0-{sent['message_id']}"


async def test_message_delivered_three_times_gets_exactly_one_reply(stack):
    stack.emulator.set_delivery(duplicates=3)
    sent = await stack.emulator.send_user_message("ou_bob", "在吗")
    await stack.emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 10)
    await settle(stack)
    deliveries = [d for d in stack.emulator.deliveries() if d["event_id"] == sent["event_id"]]
    assert [d["status"] for d in deliveries] == [200, 200, 200]
    assert len([m for m in stack.replies(sent["chat_id"]) if m["parent_id"] == sent["message_id"]]) == 1


async def test_same_message_under_new_event_ids_gets_one_reply(stack):
    stack.emulator.set_delivery(duplicates=3, duplicate_new_event_id=True)
    sent = await stack.emulator.send_user_message("ou_carol", "hello")
    await stack.emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 10)
    await settle(stack)
    assert len(stack.replies(sent["chat_id"])) == 1


async def test_group_message_needs_an_at_mention(stack):
    group = stack.emulator.create_group(name="客户群", members=["ou_dan"])
    quiet = await stack.emulator.send_user_message("ou_dan", "大家好", chat_type="group",
                                                   chat_id=group["chat_id"])
    asked = await stack.emulator.send_user_message("ou_dan", "发票怎么开", chat_type="group",
                                                   chat_id=group["chat_id"], mention_bot=True)
    reply = await stack.emulator.wait_for_message(lambda m: m["parent_id"] == asked["message_id"], 10)
    await settle(stack)
    assert reply["text"] == "收到：发票怎么开"
    assert [m["parent_id"] for m in stack.replies(group["chat_id"])] == [asked["message_id"]]
    assert quiet["message_id"] != asked["message_id"]


async def test_rate_limited_send_is_retried_after_reset_and_arrives_once(stack):
    stack.emulator.add_fault("/open-apis/im/v1/messages", "rate_limit", count=1, reset_s=1, method="POST")
    started = asyncio.get_running_loop().time()
    sent = await stack.emulator.send_user_message("ou_erin", "查询订单")
    await stack.emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 10)
    waited = asyncio.get_running_loop().time() - started
    await settle(stack)
    posts = [r for r in stack.emulator.requests("/open-apis/im/v1/messages", method="POST")
             if r["path"].endswith("/reply")]
    assert [r["status"] for r in posts] == [429, 200]
    assert waited >= 1.0  # it waited for x-ogw-ratelimit-reset
    assert len(stack.replies(sent["chat_id"])) == 1


@pytest.mark.parametrize("dies", ["before_reply", "after_reply"])
async def test_worker_killed_before_ack_still_leads_to_exactly_one_reply(stack, dies):
    """The first worker takes the entry and dies before acknowledging it (before or after it replied)."""
    await stack.workers.stop()
    settings, services = stack.settings, stack.services
    real = MessageHandler(services.feishu, echo_responder("zh-CN"), bot_open_id=settings.feishu_bot_open_id,
                          language="zh-CN")
    died = asyncio.Event()

    async def crashing(event):
        if dies == "after_reply":
            await real(event)
        died.set()
        await asyncio.sleep(3600)  # the process is gone: nothing after this line runs

    doomed_registry = HandlerRegistry()
    doomed_registry.add_event("im.message.receive_v1", crashing)
    doomed = WorkerPool(services.queue, doomed_registry, consumer="doomed", reclaim_idle_ms=300, read_block_ms=50)
    await doomed.start()
    sent = await stack.emulator.send_user_message("ou_frank", "我的快递到哪了")
    await asyncio.wait_for(died.wait(), 10)
    await doomed.kill()
    assert await services.queue.depth() == 1

    restarted = WorkerPool(services.queue, services.registry, consumer="restarted", reclaim_idle_ms=300,
                           read_block_ms=50)
    await restarted.start()
    await stack.emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 10)
    for _ in range(100):
        if await services.queue.depth() == 0:
            break
        await asyncio.sleep(0.05)
    await restarted.stop()
    assert await services.queue.depth() == 0
    assert len(stack.replies(sent["chat_id"])) == 1
    reply_posts = [r for r in stack.emulator.requests("/open-apis/im/v1/messages", method="POST")
                   if r["path"].endswith("/reply")]
    # After a crash past the reply the work is redone; the reply's uuid makes Feishu keep one message.
    assert len(reply_posts) == (2 if dies == "after_reply" else 1)
    assert {r["body"]["uuid"] for r in reply_posts} == {f"r0-{sent['message_id']}"}
