"""The `larkdesk worker` processes a `larkdesk serve` runs: started at a lower CPU priority, restarted when one
dies (1 s, doubling to WORKER_RESTART_MAX_BACKOFF_S; back to 1 s once it has lived a minute), and told to
exit when the server dies (Linux parent-death signal; a worker also watches its parent itself)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import structlog

from config.settings import Settings
from observability.metrics import SUPERVISED_RESTARTS, WORKER_PROCESSES_ALIVE

log = structlog.get_logger("bot.processes")

PARENT_ENV = "LARKDESK_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    """In the child before exec: lower priority, and SIGTERM when the parent dies (even by kill -9)."""
    os.nice(5)
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the worker's own parent watch covers it
        pass


def worker_env(settings: Settings) -> dict[str, str]:
    """This server's settings (the emulator wiring included) as a worker's environment."""
    values = {name.upper(): (str(value).lower() if isinstance(value, bool) else str(value))
              for name, value in settings.model_dump().items()}
    return {**os.environ, **values, PARENT_ENV: str(os.getpid()), "WORKER_HEALTH_PORT": "0"}


@dataclass
class _Slot:
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff_s: float = 1.0
    next_start: float = 0.0
    restarts: int = 0


class WorkerProcesses:
    def __init__(self, settings: Settings, count: int, *, check_interval_s: float = 0.5) -> None:
        self.settings = settings
        self.count = count
        self.check_interval_s = check_interval_s
        self.max_backoff_s = settings.worker_restart_max_backoff_s
        self._slots = [_Slot() for _ in range(count)]
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def alive(self) -> int:
        return sum(1 for slot in self._slots if slot.proc is not None and slot.proc.poll() is None)

    @property
    def pids(self) -> list[int]:
        return [slot.proc.pid for slot in self._slots if slot.proc is not None and slot.proc.poll() is None]

    @property
    def restarts(self) -> int:
        return sum(slot.restarts for slot in self._slots)

    async def ready(self) -> None:
        """Readiness check: at least one worker process runs."""
        if self.count and self.alive == 0:
            raise RuntimeError(f"no worker process alive (of {self.count})")

    def _spawn(self, slot: _Slot) -> None:
        slot.proc = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=worker_env(self.settings),
                                     preexec_fn=_child_setup)
        slot.started_at = time.monotonic()
        log.info("processes.worker_started", pid=slot.proc.pid)

    async def start(self) -> None:
        for slot in self._slots:
            self._spawn(slot)
        WORKER_PROCESSES_ALIVE.set(self.alive)
        self._task = asyncio.create_task(self._watch(), name="processes.watch")

    def check(self) -> None:
        """Reap dead workers and start them again when their backoff has passed."""
        now = time.monotonic()
        for slot in self._slots:
            proc = slot.proc
            if proc is not None and proc.poll() is None:
                if now - slot.started_at > 60:
                    slot.backoff_s = 1.0
                continue
            if proc is not None:  # just found dead (poll() reaped it: no zombie left)
                log.error("processes.worker_died", pid=proc.pid, returncode=proc.returncode,
                          restart_in_s=slot.backoff_s)
                slot.proc, slot.next_start = None, now + slot.backoff_s
                slot.backoff_s = min(slot.backoff_s * 2, self.max_backoff_s)
            if now >= slot.next_start and not self._stopping:
                slot.restarts += 1
                SUPERVISED_RESTARTS.labels("worker_process").inc()
                self._spawn(slot)
        WORKER_PROCESSES_ALIVE.set(self.alive)

    async def _watch(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.check_interval_s)
            try:
                self.check()
            except Exception:
                log.exception("processes.check_failed")

    async def stop(self, timeout_s: float = 60.0) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        procs = [slot.proc for slot in self._slots if slot.proc is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                await asyncio.to_thread(proc.wait, timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait, 10)
        WORKER_PROCESSES_ALIVE.set(0)


async def watch_parent(stop: asyncio.Event, interval_s: float = 1.0) -> None:
    """Set `stop` when the process that started this one is gone (a worker never outlives its server)."""
    parent = int(os.environ.get(PARENT_ENV) or 0)
    if not parent:
        return
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("worker.parent_gone", parent=parent)
            stop.set()
            return
        await asyncio.sleep(interval_s)
