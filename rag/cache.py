"""Hot-query cache in Redis, keyed by normalized question + knowledge version.

Every knowledge change bumps the version, so stale answers are never served: old keys are simply not
read again and expire by TTL.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import redis.asyncio as aioredis
import structlog

from observability.metrics import CACHE_LOOKUPS
from rag.normalize import cache_key_text

log = structlog.get_logger("rag.cache")

KB_VERSION_KEY = "larkdesk:kb:version"
_PREFIX = "larkdesk:cache:"


class KnowledgeVersion:
    """A counter every knowledge write bumps (ingest, delete, rollback, live doc edit)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def current(self) -> int:
        return int(await self.redis.get(KB_VERSION_KEY) or 0)

    async def bump(self) -> int:
        return int(await self.redis.incr(KB_VERSION_KEY))


class AnswerCache:
    def __init__(self, redis: aioredis.Redis, version: KnowledgeVersion, *, ttl_s: int = 3600,
                 enabled: bool = True) -> None:
        self.redis = redis
        self.version = version
        self.ttl_s = ttl_s
        self.enabled = enabled
        self._lookup = redis.register_script(
            "local v = redis.call('GET', KEYS[1]) or '0' return redis.call('GET', ARGV[1] .. v .. ':' .. ARGV[2])")

    def _digest(self, question: str, scope: str) -> str:
        return hashlib.sha1(f"{scope}\x1f{cache_key_text(question)}".encode()).hexdigest()

    async def _key(self, question: str, scope: str) -> str:
        return f"{_PREFIX}{await self.version.current()}:{self._digest(question, scope)}"

    async def get(self, question: str, scope: str = "") -> dict[str, Any] | None:
        if not self.enabled:
            return None
        try:  # version and entry in one round trip: this is the hot path of every repeated question
            raw = await self._lookup(keys=[KB_VERSION_KEY], args=[_PREFIX, self._digest(question, scope)])
        except Exception as exc:  # a cache that is down only costs speed
            log.warning("cache.get_failed", error=str(exc))
            return None
        CACHE_LOOKUPS.labels("hit" if raw else "miss").inc()
        return json.loads(raw) if raw else None

    async def put(self, question: str, value: dict[str, Any], scope: str = "") -> None:
        if not self.enabled:
            return
        try:
            await self.redis.set(await self._key(question, scope), json.dumps(value, ensure_ascii=False),
                                 ex=self.ttl_s)
        except Exception as exc:
            log.warning("cache.put_failed", error=str(exc))

    async def clear(self) -> int:
        """Delete every cached answer; returns how many were removed."""
        cleared = 0
        async for key in self.redis.scan_iter(match=f"{_PREFIX}*", count=500):
            cleared += await self.redis.delete(key)
        return cleared
