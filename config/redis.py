"""One Redis client for the process: a real server by `REDIS_URL`, else an in-process fakeredis."""

from __future__ import annotations

import fakeredis
import redis.asyncio as aioredis

from config.settings import Settings


def create_redis(settings: Settings, server: fakeredis.FakeServer | None = None) -> aioredis.Redis:
    """Return an asyncio Redis client (strings decoded).

    Without `REDIS_URL` the embedded default is fakeredis: same protocol and Lua, no server to run,
    but nothing survives a restart. Pass `server` to share one fake dataset between clients.
    """
    if settings.redis_url:
        return aioredis.Redis.from_url(
            settings.redis_url, decode_responses=True, health_check_interval=30, socket_connect_timeout=2
        )
    return fakeredis.FakeAsyncRedis(server=server or fakeredis.FakeServer(), decode_responses=True)
