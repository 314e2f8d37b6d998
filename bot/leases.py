"""Scheduled jobs that run once per period across every process: a Redis lease taken before each run.

Every process schedules the job; at each tick the first one to take the lease (SET NX with a time to live a
little shorter than the period) runs it and the others skip that period. A process that dies simply stops
taking the lease: another one runs the next period.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
import structlog

from observability.metrics import SCHEDULED_JOBS

log = structlog.get_logger("bot.leases")

LEASE_PREFIX = "larkdesk:lease:"


def holder_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


async def take_lease(redis: aioredis.Redis, name: str, ttl_s: float, holder: str | None = None) -> bool:
    return bool(await redis.set(f"{LEASE_PREFIX}{name}", holder or holder_name(), nx=True,
                                px=max(1, int(ttl_s * 1000))))


def once_per_period(redis: aioredis.Redis, name: str, period_s: float,
                    job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """`job` wrapped to run only in the process that takes this period's lease."""
    ttl_s = period_s * 0.9

    async def run() -> None:
        try:
            taken = await take_lease(redis, name, ttl_s)
        except Exception as exc:  # Redis down: skip this period rather than run everywhere at once
            log.warning("lease.unavailable", job=name, error=str(exc))
            SCHEDULED_JOBS.labels(name, "no_redis").inc()
            return
        if not taken:
            SCHEDULED_JOBS.labels(name, "skipped").inc()
            return
        SCHEDULED_JOBS.labels(name, "ran").inc()
        await job()

    run.__name__ = f"leased_{name.replace('.', '_')}"
    return run
