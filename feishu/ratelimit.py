"""Keeps outbound calls inside Feishu's windows: at most N calls per key in any 1-second window.

Feishu allows 5 messages per second to one chat or user and 50 per second per app. A sliding window
matches that rule exactly (bursts up to N are fine, the N+1th waits), unlike even spacing, which would
add queueing delay at rates the server accepts. `KeyedRateLimiter` counts in this process;
`SharedRateLimiter` counts in Redis for every process of the app.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict, deque

import redis.asyncio as aioredis
import structlog

log = structlog.get_logger("feishu.ratelimit")


class KeyedRateLimiter:
    def __init__(self, calls: int, window_s: float = 1.0, slack_s: float = 0.0, max_keys: int = 10_000) -> None:
        self._calls = calls
        # Slack covers network jitter: the server counts arrival times, which lag our send times unevenly.
        self._window = window_s + slack_s
        self._sent: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked_until: dict[str, float] = {}
        self._max_keys = max_keys

    async def wait(self, key: str) -> None:
        if self._calls <= 0:
            return
        while True:
            now = time.monotonic()
            history = self._sent.setdefault(key, deque())
            self._sent.move_to_end(key)
            while history and now - history[0] >= self._window:
                history.popleft()
            delay = self._blocked_until.get(key, 0.0) - now
            if delay <= 0 and len(history) < self._calls:
                history.append(now)
                self._trim()
                return
            if len(history) >= self._calls:
                delay = max(delay, history[0] + self._window - now)
            await asyncio.sleep(delay)

    def push_back(self, key: str, seconds: float) -> None:
        """The server said wait: hold this key for at least `seconds`."""
        self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), time.monotonic() + seconds)

    def _trim(self) -> None:
        while len(self._sent) > self._max_keys:
            old, _ = self._sent.popitem(last=False)
            self._blocked_until.pop(old, None)


# A sliding window per key in a sorted set, in Redis time (every host agrees): 0 when the call may go now,
# else how many ms to wait. A server-imposed hold (push_back) is a plain key with a time to live.
_WINDOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('PTTL', KEYS[2])
if held > 0 then return held end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class SharedRateLimiter:
    """The same rule as `KeyedRateLimiter`, counted in Redis: Feishu limits per app and per chat, not per
    process, so every process of one app shares the window. If Redis fails, the process falls back to its
    own window rather than stop sending."""

    def __init__(self, redis: aioredis.Redis, name: str, calls: int, window_s: float = 1.0,
                 slack_s: float = 0.0) -> None:
        self._redis = redis
        self._prefix = f"larkdesk:ratelimit:{name}:"
        self._calls = calls
        self._window_ms = int((window_s + slack_s) * 1000)
        self._script = redis.register_script(_WINDOW_LUA)
        self._local = KeyedRateLimiter(calls, window_s, slack_s)

    async def wait(self, key: str) -> None:
        if self._calls <= 0:
            return
        while True:
            try:
                delay_ms = int(await self._script(keys=[self._prefix + key, self._prefix + "hold:" + key],
                                                  args=[self._calls, self._window_ms, uuid.uuid4().hex]))
            except Exception as exc:
                log.warning("ratelimit.shared_unavailable", error=str(exc))
                await self._local.wait(key)
                return
            if delay_ms <= 0:
                return
            await asyncio.sleep(delay_ms / 1000)

    def push_back(self, key: str, seconds: float) -> None:
        """The server said wait: every process holds this key for at least `seconds`."""
        self._local.push_back(key, seconds)
        task = asyncio.get_running_loop().create_task(self._hold(key, seconds))
        _holding.add(task)
        task.add_done_callback(_holding.discard)

    async def _hold(self, key: str, seconds: float) -> None:
        try:
            await self._redis.set(self._prefix + "hold:" + key, "1", px=max(1, int(seconds * 1000)))
        except Exception as exc:
            log.warning("ratelimit.hold_not_shared", error=str(exc))


_holding: set[asyncio.Task] = set()
