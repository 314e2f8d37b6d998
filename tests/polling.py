"""Waiting in tests for state that changes elsewhere (a worker task, another thread)."""

from __future__ import annotations

import asyncio


async def eventually(predicate, timeout_s: float = 5.0, interval_s: float = 0.01) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval_s)
