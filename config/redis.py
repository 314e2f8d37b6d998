"""One Redis client for the process: a real server by `REDIS_URL`, else an in-process fakeredis."""

from __future__ import annotations

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
