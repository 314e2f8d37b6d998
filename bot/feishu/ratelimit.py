"""Spacing limiter: keeps calls per key under a rate (Feishu allows 5 QPS to one chat, 50/s per app)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict


class KeyedRateLimiter:
    """Reserves evenly spaced slots per key; callers sleep until their slot. In-process only."""

    def __init__(self, rate_per_s: float, max_keys: int = 10_000) -> None:
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._next: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys

    async def wait(self, key: str) -> None:
        if self._interval <= 0:
            return
        now = time.monotonic()
        slot = max(now, self._next.get(key, 0.0))
        self._next[key] = slot + self._interval
        self._next.move_to_end(key)
        while len(self._next) > self._max_keys:
            self._next.popitem(last=False)
        if slot > now:
            await asyncio.sleep(slot - now)

    def push_back(self, key: str, seconds: float) -> None:
        """The server said wait: move this key's next slot at least `seconds` ahead."""
        self._next[key] = max(self._next.get(key, 0.0), time.monotonic() + seconds)
