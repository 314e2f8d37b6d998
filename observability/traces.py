"""Per-turn traces: which steps a conversation turn went through and how long each took, kept in Redis.

A trace is built in memory during the turn and written once at the end (one round trip). The store keeps the
newest `max_traces` and forgets older ones, so it is a debugging window, not an archive. Storing a trace must
never break a conversation: Redis errors are logged and the trace is dropped.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import structlog

from observability.masking import mask_value
from observability.metrics import STEP_LATENCY, TRACES_DROPPED

log = structlog.get_logger("observability.traces")

KEY_PREFIX = "larkdesk:trace:"
INDEX_KEY = KEY_PREFIX + "index"
ITEM_PREFIX = KEY_PREFIX + "id:"
MAX_STEPS = 200  # a runaway loop adding steps must not grow one trace without bound

# One round trip per saved trace (a turn's hot path): store it, index it, drop expired index entries, and
# trim the index to the cap, deleting the trimmed traces.
# KEYS: index. ARGV: item key prefix, trace id, payload, ttl s, start time, expired-before time, cap.
_SAVE_SCRIPT = """
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'EX', tonumber(ARGV[4]))
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[6])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[7])
if over > 0 then
  local ids = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  for _, id in ipairs(ids) do redis.call('DEL', ARGV[1] .. id) end
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return over
"""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Trace:
    """One turn. Not thread-safe: one task builds it."""

    def __init__(self, session_id: str, channel: str, name: str = "turn", trace_id: str | None = None) -> None:
        self.trace_id = trace_id or uuid.uuid4().hex
        self.session_id = session_id
        self.channel = channel
        self.name = name
        self.start_time = time.time()
        self.status = "running"
        self.duration_ms: float | None = None
        self.steps: list[dict[str, Any]] = []
        self.attributes: dict[str, Any] = {}
        self._started = time.perf_counter()
        self._observed = 0  # steps already recorded in STEP_LATENCY, so a second save records none twice

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        status = "ok"
        try:
            yield
        except Exception:
            status = "error"
            raise
        except BaseException:  # cancellation, shutdown: not a failure of the step itself
            status = "cancelled"
            raise
        finally:
            self.add_step(name, (time.perf_counter() - started) * 1000, status)

    def add_step(self, name: str, duration_ms: float, status: str = "ok", **attrs: Any) -> None:
        if len(self.steps) >= MAX_STEPS:
            return
        entry: dict[str, Any] = {"step": name, "duration_ms": round(float(duration_ms), 2), "status": status}
        entry.update({k: mask_value(v) for k, v in attrs.items()})
        self.steps.append(entry)

    def set(self, **attrs: Any) -> None:
        self.attributes.update({k: mask_value(v) for k, v in attrs.items()})

    def finish(self, status: str = "ok") -> None:
        self.status = status
        self.duration_ms = round((time.perf_counter() - self._started) * 1000, 2)

    @property
    def finished(self) -> bool:
        return self.duration_ms is not None

    def to_dict(self) -> dict[str, Any]:
        duration = self.duration_ms
        if duration is None:
            duration = round((time.perf_counter() - self._started) * 1000, 2)
        return {
            "trace_id": self.trace_id,
            "session_id": self.session_id,
            "channel": self.channel,
            "name": self.name,
            "status": self.status,
            "start_time": _iso(self.start_time),
            "duration_ms": duration,
            "steps": [dict(s) for s in self.steps],
            "attributes": dict(self.attributes),
        }

    def _observe_new_steps(self) -> None:
        for entry in self.steps[self._observed:]:
            STEP_LATENCY.labels(entry["step"]).observe(entry["duration_ms"] / 1000)
        self._observed = len(self.steps)


class TraceStore:
    def __init__(self, redis: Any, *, max_traces: int = 2000, ttl_s: int = 7 * 24 * 3600) -> None:
        if max_traces < 1 or ttl_s < 1:
            raise ValueError("max_traces and ttl_s must be positive")
        self.redis = redis
        self.max_traces = max_traces
        self.ttl_s = ttl_s
        self._save = redis.register_script(_SAVE_SCRIPT)

    def start(self, session_id: str, channel: str, name: str = "turn") -> Trace:
        return Trace(session_id, channel, name)

    async def save(self, trace: Trace) -> None:
        """Finish (if needed) and store the trace; never raises."""
        try:
            if not trace.finished:
                trace.finish("ok")
            # Metrics first: they must not depend on Redis being up.
            trace._observe_new_steps()
            payload = json.dumps(trace.to_dict(), ensure_ascii=False, default=str)
            await self._save(keys=[INDEX_KEY], args=[ITEM_PREFIX, trace.trace_id, payload, self.ttl_s,
                                                      trace.start_time, time.time() - self.ttl_s, self.max_traces])
        except Exception as exc:
            TRACES_DROPPED.inc()
            log.warning("trace.save_failed", trace_id=trace.trace_id, error=f"{type(exc).__name__}: {exc}")

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest traces first (Redis errors propagate: callers are admin views, not conversations)."""
        if limit <= 0:
            return []
        ids = await self.redis.zrevrange(INDEX_KEY, 0, limit - 1)
        if not ids:
            return []
        raw = await self.redis.mget([ITEM_PREFIX + _text(i) for i in ids])
        return [json.loads(r) for r in raw if r is not None]

    async def get(self, trace_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(ITEM_PREFIX + trace_id)
        return json.loads(raw) if raw is not None else None

    async def forget_sessions(self, session_ids: Iterable[str]) -> int:
        """Delete every kept trace of these sessions (a customer asked to be forgotten); returns how many."""
        wanted = set(session_ids)
        if not wanted:
            return 0
        ids = [_text(i) for i in await self.redis.zrange(INDEX_KEY, 0, -1)]
        doomed: list[str] = []
        for start in range(0, len(ids), 500):
            batch = ids[start:start + 500]
            for trace_id, raw in zip(batch, await self.redis.mget([ITEM_PREFIX + i for i in batch]), strict=True):
                if raw is not None and json.loads(raw).get("session_id") in wanted:
                    doomed.append(trace_id)
        if doomed:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(*[ITEM_PREFIX + i for i in doomed])
                pipe.zrem(INDEX_KEY, *doomed)
                await pipe.execute()
        return len(doomed)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
