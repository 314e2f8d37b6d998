"""Per-turn traces: steps and attributes, storage in Redis with a cap, and a Redis outage that breaks nothing."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import datetime

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from observability.metrics import REGISTRY
from observability.traces import INDEX_KEY, ITEM_PREFIX, KEY_PREFIX, Trace, TraceStore


def _step_count(step: str) -> float:
    return REGISTRY.get_sample_value("larkdesk_step_seconds_count", {"step": step}) or 0.0


def _dropped() -> float:
    return REGISTRY.get_sample_value("larkdesk_traces_dropped_total") or 0.0


@pytest.mark.unit
def test_steps_attributes_and_dict():
    trace = Trace("sess-1", "p2p")
    with trace.step("retrieve"):
        pass
    with pytest.raises(ValueError), trace.step("generate"):
        raise ValueError("boom")
    trace.add_step("embed", 12.345, parent="retrieve", query="call 13812345678")
    trace.set(intent="refund", note="我的手机号是13812345678", confidence=0.8)
    trace.finish("escalated")
    d = trace.to_dict()

    assert set(d) == {"trace_id", "session_id", "channel", "name", "status", "start_time", "duration_ms", "steps",
                      "attributes"}
    assert (d["session_id"], d["channel"], d["name"], d["status"]) == ("sess-1", "p2p", "turn", "escalated")
    assert datetime.fromisoformat(d["start_time"]).utcoffset().total_seconds() == 0
    steps = [(s["step"], s["status"]) for s in d["steps"]]
    assert steps == [("retrieve", "ok"), ("generate", "error"), ("embed", "ok")]
    assert d["steps"][2] == {"step": "embed", "duration_ms": 12.35, "status": "ok", "parent": "retrieve",
                             "query": "call 138****5678"}
    assert d["attributes"] == {"intent": "refund", "note": "我的手机号是138****5678", "confidence": 0.8}
    assert d["duration_ms"] >= 0
    json.dumps(d)  # storable as is


@pytest.mark.unit
async def test_step_times_the_block_and_marks_cancellation():
    trace = Trace("s", "group")
    with trace.step("rerank"):
        await asyncio.sleep(0.05)
    assert 40 <= trace.steps[0]["duration_ms"] < 1000

    async def cancelled() -> None:
        with trace.step("generate"):
            await asyncio.sleep(10)

    task = asyncio.create_task(cancelled())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert trace.steps[1]["status"] == "cancelled"


async def test_save_get_recent_newest_first(redis_client):
    store = TraceStore(redis_client)
    now = time.time()
    traces = []
    for i in range(3):
        trace = store.start(f"sess-{i}", "p2p")
        trace.start_time = now + i
        with trace.step("retrieve"):
            pass
        trace.set(decision="answer")
        await store.save(trace)
        traces.append(trace)

    got = await store.get(traces[1].trace_id)
    assert got == traces[1].to_dict()
    assert got["status"] == "ok"  # save finishes an unfinished trace
    recent = await store.recent(limit=2)
    assert [t["session_id"] for t in recent] == ["sess-2", "sess-1"]
    assert len(await store.recent()) == 3
    assert await store.get("nope") is None
    keys = await redis_client.keys("*")
    assert keys and all(k.startswith(KEY_PREFIX) for k in keys)
    assert 0 < await redis_client.ttl(ITEM_PREFIX + traces[0].trace_id) <= 7 * 24 * 3600


async def test_cap_deletes_the_oldest_traces_and_their_keys(redis_client):
    store = TraceStore(redis_client, max_traces=3, ttl_s=3600)
    now = time.time()
    ids = []
    for i in range(7):
        trace = store.start(f"sess-{i}", "p2p")
        trace.start_time = now + i
        await store.save(trace)
        ids.append(trace.trace_id)

    assert await redis_client.zcard(INDEX_KEY) == 3
    assert [t["trace_id"] for t in await store.recent(10)] == ids[:-4:-1]
    for old in ids[:4]:
        assert await store.get(old) is None
        assert not await redis_client.exists(ITEM_PREFIX + old)
    assert len(await redis_client.keys(ITEM_PREFIX + "*")) == 3
    assert 0 < await redis_client.ttl(ITEM_PREFIX + ids[-1]) <= 3600


async def test_expired_traces_leave_the_index(redis_client):
    store = TraceStore(redis_client, ttl_s=60)
    stale = store.start("old", "p2p")
    stale.start_time -= 3600
    await store.save(stale)
    fresh = store.start("new", "p2p")
    await store.save(fresh)
    assert await redis_client.zrange(INDEX_KEY, 0, -1) == [fresh.trace_id]


async def test_step_latency_recorded_once_per_step(redis_client):
    store = TraceStore(redis_client)
    trace = store.start("s", "p2p")
    with trace.step("test_once_a"):
        pass
    trace.add_step("test_once_b", 250.0)
    before_a, before_b = _step_count("test_once_a"), _step_count("test_once_b")
    await store.save(trace)
    await store.save(trace)  # saved again (e.g. after a late attribute): no second observation
    assert _step_count("test_once_a") == before_a + 1
    assert _step_count("test_once_b") == before_b + 1
    total = REGISTRY.get_sample_value("larkdesk_step_seconds_sum", {"step": "test_once_b"})
    assert total is not None and total >= 0.25


@pytest.mark.unit
async def test_redis_down_drops_the_trace_without_raising():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    client = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, decode_responses=True,
                            retry=Retry(NoBackoff(), 0))
    store = TraceStore(client)
    trace = store.start("s", "p2p")
    trace.add_step("test_down_step", 5.0)
    before, dropped = _step_count("test_down_step"), _dropped()
    await asyncio.wait_for(store.save(trace), 5)  # must not raise
    assert _dropped() == dropped + 1
    assert _step_count("test_down_step") == before + 1  # metrics do not depend on Redis
    await client.aclose()


@pytest.mark.unit
def test_invalid_store_settings():
    with pytest.raises(ValueError):
        TraceStore(None, max_traces=0)
