"""No head-of-line blocking and one chat's order kept, across worker pools (on both Redis backends)."""

from __future__ import annotations

import asyncio
import time

from bot.queue import EventQueue
from bot.registry import HandlerRegistry
from bot.workers import WorkerPool
from feishu.events import FeishuEvent
from tests.polling import eventually
from tests.unit.test_queue_workers import message_event


def pool(queue: EventQueue, registry: HandlerRegistry, **kw) -> WorkerPool:
    kw.setdefault("reclaim_idle_ms", 300)
    kw.setdefault("read_block_ms", 50)
    return WorkerPool(queue, registry, **kw)


async def test_a_failing_event_frees_its_slot_at_once(redis_client):
    """One slot, 20 events that keep failing with a 5 s backoff: a genuine message still runs at once."""
    queue = EventQueue(redis_client, max_attempts=5)
    registry = HandlerRegistry()
    done: dict[str, float] = {}
    failed: set[str] = set()

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        if event.message_id.startswith("om_bad"):
            failed.add(event.message_id)
            raise RuntimeError("reply failed")
        done[event.message_id] = time.monotonic()

    workers = pool(queue, registry, concurrency=1, retry_backoff_ms=5000)
    await workers.start()
    for i in range(20):
        await queue.enqueue(message_event(f"bad{i}", f"om_bad{i}", chat_id=f"oc_bad{i}"))
    await eventually(lambda: len(failed) == 20, timeout_s=10)
    sent = time.monotonic()
    await queue.enqueue(message_event("good", "om_good", chat_id="oc_good"))
    await eventually(lambda: "om_good" in done, timeout_s=5)
    waited = done["om_good"] - sent
    assert await queue.retries_pending() == 20  # every bad one waits for its retry, outside the slot
    await workers.stop()
    assert waited < 0.5


async def test_one_chat_keeps_its_order_across_two_pools_through_a_retry(redis_client):
    queue = EventQueue(redis_client, max_attempts=5)
    registry = HandlerRegistry()
    order: list[str] = []
    running: set[str] = set()
    overlap = False
    failed_once: set[str] = set()

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        nonlocal overlap
        chat = event.event["message"]["chat_id"]
        overlap = overlap or chat in running
        running.add(chat)
        try:
            await asyncio.sleep(0.01)
            if event.message_id == "om_x2" and "om_x2" not in failed_once:
                failed_once.add("om_x2")
                raise ConnectionError("Feishu 5xx")
            order.append(event.message_id)
        finally:
            running.discard(chat)

    a = pool(queue, registry, consumer="a", concurrency=4, retry_backoff_ms=100)
    b = pool(queue, registry, consumer="b", concurrency=4, retry_backoff_ms=100)
    await a.start()
    await b.start()
    for i in range(1, 7):
        await queue.enqueue(message_event(f"x{i}", f"om_x{i}", chat_id="oc_x"))
        await queue.enqueue(message_event(f"y{i}", f"om_y{i}", chat_id="oc_y"))
    await eventually(lambda: len(order) == 12, timeout_s=10)
    await a.stop()
    await b.stop()
    assert [m for m in order if m.startswith("om_x")] == [f"om_x{i}" for i in range(1, 7)]
    assert [m for m in order if m.startswith("om_y")] == [f"om_y{i}" for i in range(1, 7)]
    assert not overlap
    assert await queue.depth() == 0
    assert await queue.dead_letters() == []


async def test_a_chat_whose_first_event_is_dead_lettered_goes_on(redis_client):
    queue = EventQueue(redis_client, max_attempts=2)
    registry = HandlerRegistry()
    seen: list[str] = []

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        if event.message_id == "om_1":
            raise RuntimeError("poison")
        seen.append(event.message_id)

    workers = pool(queue, registry, retry_backoff_ms=20)
    await workers.start()
    for i in range(1, 4):
        await queue.enqueue(message_event(f"e{i}", f"om_{i}", chat_id="oc_1"))
    await eventually(lambda: seen == ["om_2", "om_3"], timeout_s=5)
    await workers.stop()
    assert [d.event_id for d in await queue.dead_letters()] == ["e1"]
    assert await queue.depth() == 0


async def test_a_lane_whose_owner_vanished_is_handed_on(redis_client):
    """An owner entry lost for good (its lane lease ran out): the chat's waiting events still run."""
    queue = EventQueue(redis_client, lane_ttl_ms=200)
    await queue.ensure_group()
    await queue.enqueue(message_event("e1", "om_1", chat_id="oc_1"))
    await queue.enqueue(message_event("e2", "om_2", chat_id="oc_1"))
    assert [e.event_id for e in await queue.read("ghost", 10, 10)] == ["e1"]  # the second parks behind it
    first = (await queue.reclaim("ghost", 0, 10))[0]
    await redis_client.xack(queue.stream, queue.group, first.entry_id)
    await redis_client.xdel(queue.stream, first.entry_id)  # the owner is gone without finishing
    await asyncio.sleep(0.3)
    assert await queue.sweep() == 1
    assert [e.event_id for e in await queue.read("live", 10, 10)] == ["e2"]


async def test_heartbeats_say_which_consumers_are_alive(redis_client):
    queue = EventQueue(redis_client)
    workers = pool(queue, HandlerRegistry(), consumer="hb", reclaim_idle_ms=300)
    await workers.start()
    try:
        assert workers.alive
        for _ in range(100):
            if await queue.live_consumers(within_ms=1000) == 1:
                break
            await asyncio.sleep(0.02)
        assert await queue.live_consumers(within_ms=1000) == 1
    finally:
        await workers.stop()
    assert not workers.alive
    assert await queue.live_consumers(within_ms=1000) == 0
