"""Injected faults and sliding-window rate limits."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass

FAULT_KINDS = ("rate_limit", "server_error", "delay")


@dataclass
class Fault:
    path_prefix: str
    kind: str
    count: int = 1  # how many matching requests it hits; <0: unlimited
    method: str | None = None
    reset_s: float = 1.0
    delay_s: float = 0.0
    status: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.count == 0:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path_prefix)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class FaultSet:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; one of {FAULT_KINDS}")
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first active fault matching the request, consuming one of its uses."""
        for fault in self.faults:
            if fault.matches(method, path):
                fault.hits += 1
                if fault.count > 0:
                    fault.count -= 1
                return fault
        return None


class RateLimiter:
    """At most `limit` events per `window` seconds per key."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = defaultdict(deque)

    def hit(self, key: str, limit: int, window: float = 1.0, now: float | None = None) -> float | None:
        """Record a hit; None when allowed, else seconds until a slot frees (the hit is not recorded)."""
        now = time.monotonic() if now is None else now
        q = self._hits[key]
        while q and q[0] <= now - window:
            q.popleft()
        if len(q) >= limit:
            return max(0.0, q[0] + window - now)
        q.append(now)
        return None

    def clear(self) -> None:
        self._hits.clear()
