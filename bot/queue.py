"""Durable event queue: a Redis Stream with a consumer group, dedup at the door, a dead-letter stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from feishu.events import FeishuEvent

# Marks every dedup key and adds the entry in one step, so a crash between the two can neither lose an
# event (marked but never queued) nor queue it twice.
_ENQUEUE_LUA = """
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return false end
end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], '1', 'EX', ARGV[1])
end
return redis.call('XADD', KEYS[1], '*', 'type', ARGV[2], 'event_id', ARGV[3], 'payload', ARGV[4], 'ts', ARGV[5])
"""


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    event_type: str
    event_id: str
    error: str
    attempts: int
    payload: dict[str, Any]


class EventQueue:
    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        stream: str = "larkdesk:events",
        group: str = "workers",
        dead_stream: str = "larkdesk:events:dead",
        dedup_prefix: str = "larkdesk:dedup",
        dedup_ttl_s: int = 8 * 3600,
        max_attempts: int = 5,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.dead_stream = dead_stream
        self._attempts_key = f"{stream}:attempts"
        self._dedup_prefix = dedup_prefix
        self._dedup_ttl_s = dedup_ttl_s
        self.max_attempts = max_attempts
        self._enqueue = redis.register_script(_ENQUEUE_LUA)
        # Wakes this process's readers when it queued something itself. A real Redis server blocks
        # XREADGROUP until data arrives; the embedded fakeredis answers at once, so readers wait here.
        self._arrived = asyncio.Event()

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except aioredis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def dedup_keys(self, event: FeishuEvent) -> list[str]:
        keys = [f"{self._dedup_prefix}:event:{event.event_id}"]
        if event.message_id:
            keys.append(f"{self._dedup_prefix}:message:{event.message_id}")
        return keys

    async def enqueue(self, event: FeishuEvent) -> str | None:
        """Queue `event` unless its event id or message id was seen; returns the entry id or None."""
        entry_id = await self._enqueue(
            keys=[self.stream, *self.dedup_keys(event)],
            args=[self._dedup_ttl_s, event.event_type, event.event_id, event.dumps(), int(time.time() * 1000)],
        )
        if entry_id:
            self._arrived.set()
        return entry_id or None

    async def read(self, consumer: str, count: int, block_ms: int) -> list[FeishuEvent]:
        started = time.monotonic()
        self._arrived.clear()
        reply = await self.redis.xreadgroup(
            self.group, consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        if not reply:
            left = block_ms / 1000 - (time.monotonic() - started)
            if left > 0:  # the server did not block (fakeredis): wait for a local enqueue or the time left
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
                reply = await self.redis.xreadgroup(self.group, consumer, {self.stream: ">"}, count=count)
        entries = [entry for _stream, stream_entries in reply or [] for entry in stream_entries]
        return await self._to_events(entries)

    async def reclaim(self, consumer: str, min_idle_ms: int, count: int) -> list[FeishuEvent]:
        """Take over entries another (dead) consumer left pending for longer than `min_idle_ms`."""
        reply = await self.redis.xautoclaim(
            self.stream, self.group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        entries = reply[1] if reply else []
        deleted = reply[2] if reply and len(reply) > 2 else []
        if deleted:  # pending ids whose entries are gone: nothing to do but clear them
            await self.redis.xack(self.stream, self.group, *deleted)
        return await self._to_events([e for e in entries if e and e[1]])

    async def touch(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of entries still being worked on, so no one reclaims them."""
        if entry_ids:
            await self.redis.xclaim(
                self.stream, self.group, consumer, min_idle_time=0, message_ids=entry_ids, justid=True
            )

    async def ack(self, entry_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, entry_id)
            pipe.xdel(self.stream, entry_id)
            pipe.hdel(self._attempts_key, entry_id)
            await pipe.execute()

    async def record_failure(self, event: FeishuEvent, error: str) -> bool:
        """Count a failed attempt; after `max_attempts` move the entry to the dead-letter stream.

        Returns True when the entry was dead-lettered.
        """
        attempts = await self.redis.hincrby(self._attempts_key, event.entry_id, 1)
        if attempts < self.max_attempts:
            return False
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.dead_stream,
                {
                    "entry_id": event.entry_id,
                    "type": event.event_type,
                    "event_id": event.event_id,
                    "payload": event.dumps(),
                    "error": error[:2000],
                    "attempts": str(attempts),
                    "ts": str(int(time.time() * 1000)),
                },
            )
            pipe.xack(self.stream, self.group, event.entry_id)
            pipe.xdel(self.stream, event.entry_id)
            pipe.hdel(self._attempts_key, event.entry_id)
            await pipe.execute()
        return True

    async def depth(self) -> int:
        """Entries queued or in flight (acknowledged entries are deleted)."""
        return int(await self.redis.xlen(self.stream))

    async def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        rows = await self.redis.xrange(self.dead_stream, count=count)
        return [
            DeadLetter(
                entry_id=f.get("entry_id", rid),
                event_type=f.get("type", ""),
                event_id=f.get("event_id", ""),
                error=f.get("error", ""),
                attempts=int(f.get("attempts", 0)),
                payload=json.loads(f.get("payload") or "{}"),
            )
            for rid, f in rows
        ]

    async def _to_events(self, entries: list[Any]) -> list[FeishuEvent]:
        if not entries:
            return []
        failures = await self.redis.hmget(self._attempts_key, [eid for eid, _ in entries])
        events = []
        for (entry_id, fields), failed in zip(entries, failures, strict=True):
            events.append(
                FeishuEvent(
                    event_id=fields.get("event_id", ""),
                    event_type=fields.get("type", ""),
                    payload=json.loads(fields.get("payload") or "{}"),
                    entry_id=entry_id,
                    attempt=int(failed or 0) + 1,
                    received_at_ms=int(fields.get("ts") or 0),
                )
            )
        return events
