"""The durable queue and worker pool, on fakeredis and on a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from bot.queue import EventQueue
from bot.registry import DuplicateHandlerError, HandlerRegistry
from bot.workers import WorkerPool
from feishu.events import FeishuEvent
from tests.polling import eventually


def message_event(event_id: str, message_id: str, chat_id: str = "oc_1", text: str = "hi") -> FeishuEvent:
    return FeishuEvent(
        event_id,
        "im.message.receive_v1",
        {"header": {"event_id": event_id}, "event": {"message": {"message_id": message_id, "chat_id": chat_id,
                                                                   "content": text}}},
    )


def make_queue(redis, **kw) -> EventQueue:
    return EventQueue(redis, max_attempts=kw.pop("max_attempts", 3), **kw)


def make_pool(queue, registry, **kw) -> WorkerPool:
    kw.setdefault("reclaim_idle_ms", 300)
    kw.setdefault("retry_backoff_ms", 10)
    kw.setdefault("read_block_ms", 50)
    return WorkerPool(queue, registry, **kw)


async def test_enqueue_dedups_by_event_id_and_message_id(redis_client):
    queue = make_queue(redis_client)
    await queue.ensure_group()
    first = await queue.enqueue(message_event("e1", "om_1"))
    again = await queue.enqueue(message_event("e1", "om_1"))
    new_event_same_message = await queue.enqueue(message_event("e2", "om_1"))
    other = await queue.enqueue(message_event("e3", "om_2"))
    assert first is not None and other is not None
    assert again is None and new_event_same_message is None
    assert await queue.depth() == 2
    ttl = await redis_client.ttl("larkdesk:dedup:event:e1")
    assert ttl > 7.1 * 3600


async def test_worker_handles_then_acknowledges(redis_client):
    queue = make_queue(redis_client)
    registry = HandlerRegistry()
    seen: list[str] = []

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        seen.append(event.message_id)

    pool = make_pool(queue, registry)
    await pool.start()
    for i in range(5):
        await queue.enqueue(message_event(f"e{i}", f"om_{i}", chat_id=f"oc_{i}"))
    await eventually(lambda: len(seen) == 5)
    await pool.stop()
    assert sorted(seen) == [f"om_{i}" for i in range(5)]
    assert await queue.depth() == 0
    assert await redis_client.xpending(queue.stream, queue.group) == {
        "pending": 0, "min": None, "max": None, "consumers": []}


async def test_failed_entry_is_retried_then_dead_lettered_with_its_error(redis_client):
    queue = make_queue(redis_client, max_attempts=3)
    registry = HandlerRegistry()
    attempts: list[int] = []

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        attempts.append(event.attempt)
        raise RuntimeError("backend exploded")

    pool = make_pool(queue, registry)
    await pool.start()
    await queue.enqueue(message_event("e1", "om_1"))
    await eventually(lambda: len(attempts) == 3)
    await eventually(lambda: pool.inflight == 0)
    await pool.stop()
    assert attempts == [1, 2, 3]
    dead = await queue.dead_letters()
    assert [(d.event_id, d.attempts) for d in dead] == [("e1", 3)]
    assert "RuntimeError: backend exploded" in dead[0].error
    assert await queue.depth() == 0


async def test_transient_failure_recovers_without_dead_letter(redis_client):
    queue = make_queue(redis_client, max_attempts=5)
    registry = HandlerRegistry()
    calls: list[int] = []

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        calls.append(event.attempt)
        if len(calls) < 2:
            raise ConnectionError("flaky")

    pool = make_pool(queue, registry)
    await pool.start()
    await queue.enqueue(message_event("e1", "om_1"))
    await eventually(lambda: len(calls) == 2 and pool.inflight == 0)
    await pool.stop()
    assert calls == [1, 2]
    assert await queue.dead_letters() == []
    assert await queue.depth() == 0


async def test_entry_of_a_killed_worker_is_reclaimed_by_the_next_one(redis_client):
    queue = make_queue(redis_client)
    taken = asyncio.Event()
    done: list[str] = []

    dying = HandlerRegistry()

    @dying.on("im.message.receive_v1")
    async def hang(event: FeishuEvent) -> None:
        taken.set()
        await asyncio.sleep(3600)

    first = make_pool(queue, dying, consumer="worker-a")
    await first.start()
    await queue.enqueue(message_event("e1", "om_1"))
    await asyncio.wait_for(taken.wait(), 5)
    await first.kill()  # took the entry, never acknowledged it
    assert await queue.depth() == 1

    healthy = HandlerRegistry()

    @healthy.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        done.append(event.event_id)

    second = make_pool(queue, healthy, consumer="worker-b")
    await second.start()
    await eventually(lambda: done == ["e1"] and second.inflight == 0)
    await second.stop()
    assert await queue.depth() == 0


async def test_long_handler_is_not_stolen_while_its_worker_lives(redis_client):
    queue = make_queue(redis_client)
    runs: list[str] = []
    registry = HandlerRegistry()

    @registry.on("im.message.receive_v1")
    async def slow(event: FeishuEvent) -> None:
        runs.append(event.event_id)
        await asyncio.sleep(1.2)  # four times the reclaim idle time

    a = make_pool(queue, registry, consumer="a", reclaim_idle_ms=300)
    b = make_pool(queue, registry, consumer="b", reclaim_idle_ms=300)
    await a.start()
    await b.start()
    await queue.enqueue(message_event("e1", "om_1"))
    await eventually(lambda: runs and a.inflight + b.inflight == 0, timeout_s=5)
    await asyncio.sleep(0.4)
    await a.stop()
    await b.stop()
    assert runs == ["e1"]


async def test_graceful_stop_drains_in_flight_work(redis_client):
    queue = make_queue(redis_client)
    registry = HandlerRegistry()
    started = asyncio.Event()
    finished: list[str] = []

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(event.event_id)

    pool = make_pool(queue, registry)
    await pool.start()
    await queue.enqueue(message_event("e1", "om_1"))
    await asyncio.wait_for(started.wait(), 5)
    await pool.stop(drain_timeout_s=5)
    assert finished == ["e1"]
    assert await queue.depth() == 0


async def test_events_of_one_chat_run_in_order_one_at_a_time(redis_client):
    queue = make_queue(redis_client)
    registry = HandlerRegistry()
    order: list[str] = []
    running = 0
    overlap = False

    @registry.on("im.message.receive_v1")
    async def handle(event: FeishuEvent) -> None:
        nonlocal running, overlap
        running += 1
        overlap = overlap or running > 1
        await asyncio.sleep(0.02)
        order.append(event.message_id)
        running -= 1

    for i in range(6):
        await queue.enqueue(message_event(f"e{i}", f"om_{i}", chat_id="oc_same"))
    pool = make_pool(queue, registry, concurrency=8)
    await pool.start()
    await eventually(lambda: len(order) == 6)
    await pool.stop()
    assert order == [f"om_{i}" for i in range(6)]
    assert not overlap


async def test_entries_without_a_handler_are_acknowledged(redis_client):
    queue = make_queue(redis_client)
    await queue.ensure_group()
    await queue.enqueue(FeishuEvent("e9", "some.future.event_v9", {"event": {}}))
    pool = make_pool(queue, HandlerRegistry())
    await pool.start()
    await eventually(lambda: pool.inflight == 0)
    await asyncio.sleep(0.2)
    await pool.stop()
    assert await queue.depth() == 0
    assert await queue.dead_letters() == []


@pytest.mark.unit
def test_registering_a_type_twice_is_an_error():
    registry = HandlerRegistry()

    async def handler(event: FeishuEvent) -> None:
        return None

    registry.add_event("im.message.receive_v1", handler)
    with pytest.raises(DuplicateHandlerError):
        registry.add_event("im.message.receive_v1", handler)
    with pytest.raises(DuplicateHandlerError):
        registry.add_callback("im.message.receive_v1", handler)  # type: ignore[arg-type]


@pytest.mark.unit
async def test_rate_limiter_allows_a_burst_of_n_then_waits_for_the_window():
    import time

    from feishu.ratelimit import KeyedRateLimiter

    limiter = KeyedRateLimiter(5, window_s=0.2)
    started = time.monotonic()
    stamps = []
    for _ in range(7):
        await limiter.wait("oc_1")
        stamps.append(time.monotonic() - started)
    await limiter.wait("oc_other")  # another chat is not held back
    assert all(s < 0.05 for s in stamps[:5])
    assert stamps[5] >= 0.2 and stamps[6] >= 0.2
    assert time.monotonic() - started < 0.4
