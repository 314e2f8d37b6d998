"""Hot-query cache in Redis, keyed by normalized question + knowledge version.

Every knowledge change bumps the version, so stale answers are never served: old keys are simply not
read again and expire by TTL. An answer is stored under the version its lookup saw, and only while that is
still the current one: an answer computed while another process changed the knowledge is not cached.
"""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from typing import Any

import redis.asyncio as aioredis
import structlog

from observability.metrics import CACHE_LOOKUPS
from rag.normalize import cache_key_text

log = structlog.get_logger("rag.cache")

KB_VERSION_KEY = "larkdesk:kb:version"
_PREFIX = "larkdesk:cache:"
# (digest, version) of this task's last lookup: the answer computed after it belongs to that version.
_LOOKED_UP: ContextVar[tuple[str, str] | None] = ContextVar("larkdesk_cache_lookup", default=None)
_GET_LUA = ("local v = redis.call('GET', KEYS[1]) or '0' "
            "return {v, redis.call('GET', ARGV[1] .. v .. ':' .. ARGV[2])}")
_PUT_LUA = ("if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end "
            "redis.call('SET', ARGV[2] .. ARGV[1] .. ':' .. ARGV[3], ARGV[4], 'EX', ARGV[5]) return 1")


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
        self._lookup = redis.register_script(_GET_LUA)
        self._store = redis.register_script(_PUT_LUA)

    def _digest(self, question: str, scope: str) -> str:
        return hashlib.sha1(f"{scope}\x1f{cache_key_text(question)}".encode()).hexdigest()

    async def _key(self, question: str, scope: str) -> str:
        return f"{_PREFIX}{await self.version.current()}:{self._digest(question, scope)}"

    async def get(self, question: str, scope: str = "") -> dict[str, Any] | None:
        if not self.enabled:
            return None
        digest = self._digest(question, scope)
        try:  # version and entry in one round trip: this is the hot path of every repeated question
            version, raw = await self._lookup(keys=[KB_VERSION_KEY], args=[_PREFIX, digest])
        except Exception as exc:  # a cache that is down only costs speed
            log.warning("cache.get_failed", error=str(exc))
            return None
        _LOOKED_UP.set((digest, str(version)))
        CACHE_LOOKUPS.labels("hit" if raw else "miss").inc()
        return json.loads(raw) if raw else None

    async def put(self, question: str, value: dict[str, Any], scope: str = "") -> None:
        if not self.enabled:
            return
        digest = self._digest(question, scope)
        try:
            seen = _LOOKED_UP.get()
            version = seen[1] if seen and seen[0] == digest else str(await self.version.current())
            await self._store(keys=[KB_VERSION_KEY],
                              args=[version, _PREFIX, digest, json.dumps(value, ensure_ascii=False), self.ttl_s])
        except Exception as exc:
            log.warning("cache.put_failed", error=str(exc))

    async def clear(self) -> int:
        """Delete every cached answer; returns how many were removed."""
        cleared = 0
        async for key in self.redis.scan_iter(match=f"{_PREFIX}*", count=500):
            cleared += await self.redis.delete(key)
        return cleared
