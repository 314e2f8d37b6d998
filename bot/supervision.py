"""Keeps the in-process parts that run in the background alive: a part found dead is started again with a
backoff (1 s, doubling to 30 s; back to 1 s once it has lived a minute), logged and counted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from observability.metrics import SUPERVISED_RESTARTS

log = structlog.get_logger("bot.supervision")


@dataclass
class _Part:
    name: str
    alive: Callable[[], bool]
    restart: Callable[[], Awaitable[None]]
    backoff_s: float = 1.0
    next_try: float = 0.0
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0


class Supervisor:
    def __init__(self, *, interval_s: float = 1.0, max_backoff_s: float = 30.0) -> None:
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self._parts: dict[str, _Part] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, name: str, alive: Callable[[], bool], restart: Callable[[], Awaitable[None]]) -> None:
        if name in self._parts:
            raise ValueError(f"{name} is already supervised")
        self._parts[name] = _Part(name, alive, restart)

    def restarts(self, name: str) -> int:
        return self._parts[name].restarts

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="supervisor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def check(self) -> None:
        """One round: restart every part found dead whose backoff has passed."""
        now = time.monotonic()
        for part in self._parts.values():
            try:
                if part.alive():
                    if now - part.started_at > 60:
                        part.backoff_s = 1.0
                    continue
            except Exception:
                log.exception("supervisor.alive_check_failed", part=part.name)
            if now < part.next_try:
                continue
            part.restarts += 1
            SUPERVISED_RESTARTS.labels(part.name).inc()
            log.error("supervisor.restarting", part=part.name, restarts=part.restarts, backoff_s=part.backoff_s)
            part.next_try = now + part.backoff_s
            part.backoff_s = min(part.backoff_s * 2, self.max_backoff_s)
            part.started_at = now
            try:
                await part.restart()
            except Exception:
                log.exception("supervisor.restart_failed", part=part.name)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.check()
