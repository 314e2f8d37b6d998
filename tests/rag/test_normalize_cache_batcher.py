"""Text normalization, the hot-query cache and the query embedding batcher."""

from __future__ import annotations

import asyncio
import threading

import fakeredis
import numpy as np
import pytest

from rag.batcher import QueryEmbeddingBatcher
from rag.cache import AnswerCache, KnowledgeVersion
from rag.normalize import cache_key_text, chinese_numbers_to_digits, normalize_text


@pytest.mark.unit
@pytest.mark.parametrize(
    ("raw", "expected"),
    [("七天无理由退货", "7天无理由退货"), ("十五天", "15天"), ("两个小时", "2个小时"), ("一起", "一起"),
     ("二十四小时", "24小时")],
)
def test_chinese_numbers_before_units(raw, expected):
    assert chinese_numbers_to_digits(raw) == expected


@pytest.mark.unit
def test_normalize_width_case_and_synonyms():
    assert normalize_text("ＡＰＰ登不上，退钱要几天？") == "应用无法登录,退款要几天?"
    assert cache_key_text("退款多久到账？") == cache_key_text(" 退款 多久到账 ") == cache_key_text("退款多久到账?")


@pytest.mark.unit
async def test_cache_hits_then_any_knowledge_change_invalidates():
    redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    version = KnowledgeVersion(redis)
    cache = AnswerCache(redis, version)
    assert await cache.get("退款多久到账？") is None
    await cache.put("退款多久到账？", {"text": "3-5个工作日"})
    assert await cache.get("退款 多久到账") == {"text": "3-5个工作日"}
    assert await cache.get("退款多久到账", scope="en") is None
    await version.bump()  # an ingest, a doc edit, a rollback...
    assert await cache.get("退款多久到账？") is None
    await cache.put("退款多久到账？", {"text": "new"})
    assert await cache.clear() == 2
    assert await cache.get("退款多久到账？") is None


@pytest.mark.unit
async def test_batcher_groups_concurrent_queries_into_few_calls():
    calls: list[int] = []
    threads: set[str] = set()

    def embed(texts):
        calls.append(len(texts))
        threads.add(threading.current_thread().name)
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    batcher = QueryEmbeddingBatcher(embed, max_batch=8, max_wait_ms=5)
    texts = [f"q{'x' * i}" for i in range(20)]
    vectors = await asyncio.gather(*(batcher.embed(t) for t in texts))
    assert [v[0] for v in vectors] == [float(len(t)) for t in texts]
    assert sum(calls) == 20 and len(calls) <= 4
    assert threading.main_thread().name not in threads  # the model never runs on the event loop


@pytest.mark.unit
async def test_batcher_propagates_errors_to_every_waiter():
    def broken(texts):
        raise RuntimeError("model crashed")

    batcher = QueryEmbeddingBatcher(broken, max_wait_ms=1)
    results = await asyncio.gather(batcher.embed("a"), batcher.embed("b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


@pytest.mark.unit
async def test_batcher_never_strands_queries_that_arrive_during_a_model_call():
    import time

    def slow(texts):
        time.sleep(0.02)
        return np.ones((len(texts), 2), dtype=np.float32)

    batcher = QueryEmbeddingBatcher(slow, max_batch=4, max_wait_ms=1)

    async def client(i: int) -> None:
        for _ in range(10):
            await batcher.embed(f"q{i}")

    await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(8))), 10)
