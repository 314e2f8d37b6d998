"""Keeps outbound calls inside Feishu's windows: at most N calls per key in any 1-second window.

Feishu allows 5 messages per second to one chat or user and 50 per second per app. A sliding window
matches that rule exactly (bursts up to N are fine, the N+1th waits), unlike even spacing, which would
add queueing delay at rates the server accepts. In-process only: several processes share by dividing N.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque


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
