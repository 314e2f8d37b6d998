"""Runs embedder calls on their own low-priority threads.

Embedding is the heaviest CPU work in the process; on a 2-core machine it competes with the event loop
that acknowledges Feishu callbacks. Its threads ask the OS for a lower priority (Linux schedules threads
individually), so the loop answers first and the embedding takes what CPU is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_NICENESS = 10


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError, PermissionError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICENESS)


_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="embed", initializer=_lower_priority)


async def run_embedding(fn: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_executor, functools.partial(fn, *args))
