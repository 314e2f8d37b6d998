"""Durable event queue: a Redis Stream with a consumer group, dedup at the door, per-chat lanes, a retry
schedule and a dead-letter stream.

Lanes keep one chat's events in order across every process: an entry runs only while it owns its lane
(`<stream>:lane:<key>`); an entry of a busy lane is parked in the lane's list and leaves the stream, so it
holds no worker slot. When the owner finishes, the next parked entry goes back into the stream as the new
owner. A failed entry is parked at the head of its lane with a due time in a sorted set
(`<stream>:retry`) and frees its slot at once: no head-of-line blocking, and the chat's later messages wait
behind it. Every move is one Lua script, so a crash between two steps can neither lose nor double an entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from feishu.events import FeishuEvent
from observability.masking import mask_text, mask_value

# Marks every dedup key and adds the entry in one step, so a crash between the two can neither lose an
# event (marked but never queued) nor queue it twice.
_ENQUEUE_LUA = """
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return false end
end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], '1', 'EX', ARGV[1])
end
return redis.call('XADD', KEYS[1], '*', 'type', ARGV[2], 'event_id', ARGV[3], 'payload', ARGV[4], 'ts', ARGV[5],
                  'key', ARGV[6])
"""

# The lane's next parked entry goes back into the stream as the lane's owner; an empty lane is released.
_HANDOFF = """
local unpack = unpack or table.unpack
local function handoff(stream, prefix, key, ttl)
  local lane = prefix .. 'lane:' .. key
  local parked = prefix .. 'parked:' .. key
  local nxt = redis.call('LPOP', parked)
  if redis.call('LLEN', parked) == 0 then redis.call('SREM', prefix .. 'waiting', key) end
  if nxt then
    local id = redis.call('XADD', stream, '*', 'key', key, 'parked', nxt)
    redis.call('SET', lane, id, 'PX', ttl)
    return id
  end
  redis.call('DEL', lane)
  return false
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# May entry `id` of lane `key` run now? Yes when it owns the lane or takes a free one; otherwise it is parked
# behind the lane (out of the stream, so it holds no worker slot).
_ADMIT = """
local function admit(stream, group, prefix, ttl, id, key, parked)
  local lane = prefix .. 'lane:' .. key
  local owner = redis.call('GET', lane)
  if owner == id then
    redis.call('PEXPIRE', lane, ttl)
    return true
  end
  if (not owner) and redis.call('LLEN', prefix .. 'parked:' .. key) == 0 then
    redis.call('SET', lane, id, 'PX', ttl)
    return true
  end
  redis.call('RPUSH', prefix .. 'parked:' .. key, parked)
  redis.call('SADD', prefix .. 'waiting', key)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
  return false
end
"""

# Reads and admits in one step, so lanes are taken in stream order whichever consumer reads first.
# ARGV: group, consumer, count, prefix, lane ttl ms → {{id, fields}...} that run, or {'last', <stream's top id>}
# when nothing new was there (the caller then blocks on the stream from that id).
_READ_LUA = _HANDOFF + _ADMIT + """
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
local entries = {}
if reply and #reply > 0 then
  if type(reply[1]) == 'string' then entries = reply[2] else entries = reply[1][2] end
end
if #entries == 0 then
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  local last = '0-0'
  if top and #top > 0 then last = top[1][1] end
  return {'last', last}
end
local out = {}
for _, entry in ipairs(entries) do
  local id, flat = entry[1], entry[2]
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  local key = f['key'] or ('event:' .. (f['event_id'] or id))
  local parked = f['parked'] or cjson.encode({type = f['type'], event_id = f['event_id'], payload = f['payload'],
                                               ts = f['ts'], attempt = 1})
  if admit(KEYS[1], ARGV[1], ARGV[4], ARGV[5], id, key, parked) then out[#out + 1] = entry end
end
return out
"""

# ARGV: group, prefix, lane ttl ms, then (entry id, lane key, parked form) per entry → 'run' | 'park' each.
_ADMIT_LUA = _HANDOFF + _ADMIT + """
local out = {}
for i = 4, #ARGV, 3 do
  if admit(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[i], ARGV[i + 1], ARGV[i + 2]) then
    out[#out + 1] = 'run'
  else
    out[#out + 1] = 'park'
  end
end
return out
"""

# ARGV: group, prefix, lane ttl ms, entry id, lane key. Acknowledge, then hand the lane on.
_FINISH_LUA = _HANDOFF + """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[4])
redis.call('XDEL', KEYS[1], ARGV[4])
if redis.call('GET', ARGV[2] .. 'lane:' .. ARGV[5]) == ARGV[4] then
  return handoff(KEYS[1], ARGV[2], ARGV[5], ARGV[3])
end
return false
"""

# KEYS: stream, dead stream. ARGV: group, prefix, lane ttl ms, entry id, lane key, 'dead' | 'retry',
# then for a retry: parked form of the next attempt, delay ms; for a dead letter: its field/value pairs.
_FAIL_LUA = _HANDOFF + """
local prefix, key, id = ARGV[2], ARGV[5], ARGV[4]
redis.call('XACK', KEYS[1], ARGV[1], id)
redis.call('XDEL', KEYS[1], id)
if ARGV[6] == 'retry' then
  local delay = tonumber(ARGV[8])
  redis.call('LPUSH', prefix .. 'parked:' .. key, ARGV[7])
  redis.call('SADD', prefix .. 'waiting', key)
  redis.call('SET', prefix .. 'lane:' .. key, 'retry:' .. id, 'PX', tonumber(ARGV[3]) + delay)
  redis.call('ZADD', prefix .. 'retry', now_ms() + delay, key)
  return 'retry'
end
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[2], '*', unpack(fields))
if redis.call('GET', prefix .. 'lane:' .. key) == id then handoff(KEYS[1], prefix, key, ARGV[3]) end
return 'dead'
"""

# ARGV: prefix, lane ttl ms, limit. Lanes whose retry is due get their head back into the stream.
_RELEASE_LUA = _HANDOFF + """
local due = redis.call('ZRANGEBYSCORE', ARGV[1] .. 'retry', '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[3]))
for _, key in ipairs(due) do
  redis.call('ZREM', ARGV[1] .. 'retry', key)
  handoff(KEYS[1], ARGV[1], key, ARGV[2])
end
return #due
"""

# ARGV: prefix, lane ttl ms, count. A lane whose owner vanished (its lease ran out) while entries wait behind
# it is handed on; the lease outlives any live owner (touched while running, longer than any retry delay).
_SWEEP_LUA = _HANDOFF + """
local moved = 0
for _, key in ipairs(redis.call('SRANDMEMBER', ARGV[1] .. 'waiting', tonumber(ARGV[3]))) do
  if redis.call('EXISTS', ARGV[1] .. 'lane:' .. key) == 0 then
    if handoff(KEYS[1], ARGV[1], key, ARGV[2]) then moved = moved + 1 end
  end
end
return moved
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
        lane_ttl_ms: int = 600_000,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.dead_stream = dead_stream
        self.prefix = f"{stream}:"
        self.heartbeats_key = f"{stream}:consumers"
        self._dedup_prefix = dedup_prefix
        self._dedup_ttl_s = dedup_ttl_s
        self.max_attempts = max_attempts
        self.lane_ttl_ms = lane_ttl_ms
        self._enqueue = redis.register_script(_ENQUEUE_LUA)
        self._read = redis.register_script(_READ_LUA)
        self._admit = redis.register_script(_ADMIT_LUA)
        self._finish = redis.register_script(_FINISH_LUA)
        self._fail = redis.register_script(_FAIL_LUA)
        self._release = redis.register_script(_RELEASE_LUA)
        self._sweep = redis.register_script(_SWEEP_LUA)
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
            args=[self._dedup_ttl_s, event.event_type, event.event_id, event.dumps(), int(time.time() * 1000),
                  event.ordering_key],
        )
        if entry_id:
            self._arrived.set()
        return entry_id or None

    async def read(self, consumer: str, count: int, block_ms: int) -> list[FeishuEvent]:
        """New entries for `consumer` that may run now (those of a busy chat are parked behind it)."""
        events, last = await self._read_admitted(consumer, count)
        if events or block_ms <= 0:
            return events
        started = time.monotonic()
        self._arrived.clear()
        await self.redis.xread({self.stream: last}, count=1, block=block_ms)  # wait for anything new
        left = block_ms / 1000 - (time.monotonic() - started)
        if left > 0.005:  # the server did not block (fakeredis): wait for a local enqueue or the time left
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
        events, _ = await self._read_admitted(consumer, count)
        return events

    async def _read_admitted(self, consumer: str, count: int) -> tuple[list[FeishuEvent], str]:
        reply = await self._read(keys=[self.stream],
                                 args=[self.group, consumer, count, self.prefix, self.lane_ttl_ms])
        if len(reply) == 2 and reply[0] == "last":
            return [], str(reply[1])
        return _to_events(reply), ""

    async def reclaim(self, consumer: str, min_idle_ms: int, count: int) -> list[FeishuEvent]:
        """Take over entries another (dead) consumer left pending for longer than `min_idle_ms`."""
        reply = await self.redis.xautoclaim(
            self.stream, self.group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
        )
        entries = reply[1] if reply else []
        deleted = reply[2] if reply and len(reply) > 2 else []
        if deleted:  # pending ids whose entries are gone: nothing to do but clear them
            await self.redis.xack(self.stream, self.group, *deleted)
        return _to_events([e for e in entries if e and e[1]])

    async def admit(self, events: list[FeishuEvent]) -> list[FeishuEvent]:
        """The events that may run now; the others (their chat is busy) are parked behind their lane."""
        if not events:
            return []
        args: list[Any] = [self.group, self.prefix, self.lane_ttl_ms]
        for event in events:
            args += [event.entry_id, lane_key(event), _parked_form(event, event.attempt)]
        verdicts = await self._admit(keys=[self.stream], args=args)
        return [e for e, verdict in zip(events, verdicts, strict=True) if verdict == "run"]

    async def touch(self, consumer: str, events: list[FeishuEvent]) -> None:
        """Reset the idle time of entries still being worked on (so no one reclaims them), keep their lanes
        and say this consumer is alive."""
        async with self.redis.pipeline(transaction=False) as pipe:
            if events:
                pipe.xclaim(self.stream, self.group, consumer, min_idle_time=0,
                            message_ids=[e.entry_id for e in events], justid=True)
                for event in events:
                    pipe.pexpire(self._lane(lane_key(event)), self.lane_ttl_ms)
            pipe.zadd(self.heartbeats_key, {consumer: int(time.time() * 1000)})
            await pipe.execute()

    async def finish(self, event: FeishuEvent) -> None:
        """Acknowledge a handled entry and hand its lane to the chat's next waiting event."""
        handed = await self._finish(keys=[self.stream],
                                    args=[self.group, self.prefix, self.lane_ttl_ms, event.entry_id,
                                          lane_key(event)])
        if handed:
            self._arrived.set()

    async def ack(self, event: FeishuEvent) -> None:  # the name every queue reader knows
        await self.finish(event)

    async def fail(self, event: FeishuEvent, error: str, retry_in_s: float) -> bool:
        """Record a failed attempt: the entry waits `retry_in_s` at the head of its lane, out of every worker's
        slots; after `max_attempts` it moves to the dead-letter stream. Returns True when dead-lettered."""
        base = [self.group, self.prefix, self.lane_ttl_ms, event.entry_id, lane_key(event)]
        if event.attempt < self.max_attempts:
            await self._fail(keys=[self.stream, self.dead_stream],
                             args=[*base, "retry", _parked_form(event, event.attempt + 1),
                                   max(1, int(retry_in_s * 1000))])
            return False
        # Kept for inspection without expiry: the customer's words in it are masked like any stored text.
        payload = json.dumps(mask_value(event.payload), ensure_ascii=False, separators=(",", ":"))
        dead = {"entry_id": event.entry_id, "type": event.event_type, "event_id": event.event_id,
                "payload": payload, "error": mask_text(error[:2000]), "attempts": str(event.attempt),
                "ts": str(int(time.time() * 1000))}
        await self._fail(keys=[self.stream, self.dead_stream],
                         args=[*base, "dead", *[x for pair in dead.items() for x in pair]])
        self._arrived.set()
        return True

    async def release_due(self, limit: int = 100) -> int:
        """Put lanes whose retry is due back into the stream; returns how many (safe in every process)."""
        moved = int(await self._release(keys=[self.stream], args=[self.prefix, self.lane_ttl_ms, limit]))
        if moved:
            self._arrived.set()
        return moved

    async def sweep(self, count: int = 100) -> int:
        """Hand on lanes whose owner is gone (a lease ran out) while entries wait behind it."""
        moved = int(await self._sweep(keys=[self.stream], args=[self.prefix, self.lane_ttl_ms, count]))
        if moved:
            self._arrived.set()
        return moved

    async def live_consumers(self, within_ms: int) -> int:
        """Consumers that reported in during the last `within_ms` (every running worker pool does)."""
        now = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self.heartbeats_key, "-inf", now - 3_600_000)
            pipe.zcount(self.heartbeats_key, now - within_ms, "+inf")
            _, live = await pipe.execute()
        return int(live)

    async def forget_consumer(self, consumer: str) -> None:
        await self.redis.zrem(self.heartbeats_key, consumer)

    async def depth(self) -> int:
        """Entries queued, in flight, parked behind their chat or waiting for a retry."""
        waiting = list(await self.redis.smembers(f"{self.prefix}waiting"))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.stream)
            for key in waiting:
                pipe.llen(f"{self.prefix}parked:{key}")
            counts = await pipe.execute()
        return int(sum(counts))

    async def retries_pending(self) -> int:
        return int(await self.redis.zcard(f"{self.prefix}retry"))

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

    def _lane(self, key: str) -> str:
        return f"{self.prefix}lane:{key}"


def lane_key(event: FeishuEvent) -> str:
    """The lane an entry runs in: the key stored with it, else the event's own ordering key."""
    return str(event.extra.get("lane") or event.ordering_key)


def _parked_form(event: FeishuEvent, attempt: int) -> str:
    """An entry as its lane keeps it while it waits (a stream entry's fields, as one JSON string)."""
    return json.dumps({"type": event.event_type, "event_id": event.event_id, "payload": event.dumps(),
                       "ts": event.received_at_ms, "attempt": attempt}, ensure_ascii=False, separators=(",", ":"))


def _to_events(entries: list[Any]) -> list[FeishuEvent]:
    events = []
    for entry_id, flat in entries:
        fields = flat if isinstance(flat, dict) else dict(zip(flat[::2], flat[1::2], strict=True))
        row, attempt = fields, 1
        if "parked" in fields:  # an entry that waited in its lane, back in the stream
            row = json.loads(fields["parked"])
            attempt = int(row.get("attempt") or 1)
        payload = row.get("payload") or "{}"
        events.append(FeishuEvent(
            event_id=str(row.get("event_id", "")),
            event_type=str(row.get("type", "")),
            payload=json.loads(payload) if isinstance(payload, str) else payload,
            entry_id=entry_id,
            attempt=attempt,
            received_at_ms=int(row.get("ts") or 0),
            extra={"lane": fields["key"]} if fields.get("key") else {},
        ))
    return events
