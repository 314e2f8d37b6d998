"""One Redis client for the process: a real server by `REDIS_URL`, else an in-process fakeredis."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import fakeredis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import Settings


def create_redis(settings: Settings, server: fakeredis.FakeServer | None = None) -> aioredis.Redis:
    """Return an asyncio Redis client (strings decoded).

    Without `REDIS_URL` the embedded default is fakeredis: same protocol and Lua, no server to run,
    but nothing survives a restart. Pass `server` to share one fake dataset between clients.
    """
    if settings.redis_url:
        return server_client(settings.redis_url)
    return fakeredis.FakeAsyncRedis(server=server or fakeredis.FakeServer(), decode_responses=True)


def server_client(url: str) -> aioredis.Redis:
    """A client that survives a Redis restart: a pooled connection idle for a second is pinged before use,
    and a command that hits a dead connection is sent again on a fresh one (three tries, 50 ms → 0.5 s
    apart), so callers see Redis back within a second of its return instead of failing on stale sockets.
    A command is retried only when the connection broke, which for a restarted server means it never ran."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=1,
        socket_connect_timeout=1,
        socket_timeout=10,  # longer than any blocking read (QUEUE read blocks ≤ 0.5 s)
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, ConnectionResetError, BrokenPipeError],
    )


_RELEASE_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@contextlib.asynccontextmanager
async def redis_lock(redis: aioredis.Redis, key: str, *, ttl_s: float = 60.0, wait_s: float = 60.0,
                     poll_s: float = 0.05) -> AsyncIterator[None]:
    """One holder at a time across processes (SET NX with a time to live, released only by its holder).

    Raises TimeoutError when the lock stays taken for `wait_s`."""
    token = uuid.uuid4().hex
    deadline = time.monotonic() + wait_s
    while not await redis.set(key, token, nx=True, px=int(ttl_s * 1000)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key} is held by another process")
        await asyncio.sleep(poll_s)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await redis.eval(_RELEASE_LUA, 1, key, token)
