"""A pool of async workers over the event queue: bounded concurrency, ack after work, reclaim, drain.

A failed event never waits inside its slot: the queue parks it with a due time and the slot takes the next
event at once (the retry loop puts due events back). Each background loop is supervised: one that dies of
an unexpected error is logged, counted and started again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from bot.queue import EventQueue
from bot.registry import HandlerRegistry
from feishu.events import FeishuEvent
from observability.logging import bind_ids, clear_ids
from observability.metrics import (
    DEAD_LETTERS,
    EVENT_PROCESSING,
    EVENTS_PROCESSED,
    EVENTS_RETRY_SCHEDULED,
    QUEUE_DEPTH,
    SUPERVISED_RESTARTS,
)

log = structlog.get_logger("bot.workers")


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class WorkerPool:
    def __init__(
        self,
        queue: EventQueue,
        registry: HandlerRegistry,
        *,
        concurrency: int = 16,
        consumer: str | None = None,
        reclaim_idle_ms: int = 30_000,
        retry_backoff_ms: int = 2_000,
        handler_timeout_s: float = 120.0,
        read_block_ms: int = 500,
        on_processed: Callable[[FeishuEvent, str], Awaitable[None]] | None = None,
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.concurrency = concurrency
        self.consumer = consumer or default_consumer_name()
        self.reclaim_idle_ms = reclaim_idle_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.handler_timeout_s = handler_timeout_s
        self.read_block_ms = read_block_ms
        self._on_processed = on_processed
        self._inflight: dict[str, tuple[FeishuEvent, asyncio.Task[None]]] = {}
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def heartbeat_interval_s(self) -> float:
        return max(self.reclaim_idle_ms / 3000, 0.03)

    @property
    def alive(self) -> bool:
        """Started, not stopping, and every loop running (a supervised loop is never done while it lives)."""
        return bool(self._loops) and not self._stopping.is_set() and not any(t.done() for t in self._loops)

    async def start(self) -> None:
        await self.queue.ensure_group()
        self._stopping.clear()
        self._loops = [
            asyncio.create_task(self._supervise("read", self._read_loop), name="workers.read"),
            asyncio.create_task(self._supervise("reclaim", self._reclaim_loop), name="workers.reclaim"),
            asyncio.create_task(self._supervise("touch", self._touch_loop), name="workers.touch"),
            asyncio.create_task(self._supervise("retry", self._retry_loop), name="workers.retry"),
        ]
        log.info("workers.started", consumer=self.consumer, concurrency=self.concurrency)

    async def stop(self, drain_timeout_s: float = 30.0) -> None:
        """Stop taking work, then wait for what is in flight (unfinished entries stay pending)."""
        self._stopping.set()
        self._slot_free.set()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._inflight:
            log.info("workers.draining", inflight=len(self._inflight))
            tasks = [task for _event, task in self._inflight.values()]
            _done, pending = await asyncio.wait(tasks, timeout=drain_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            await self.queue.forget_consumer(self.consumer)
        except Exception as exc:  # Redis down at shutdown: the heartbeat simply goes stale
            log.warning("workers.forget_failed", error=str(exc))
        log.info("workers.stopped", consumer=self.consumer)

    async def kill(self) -> None:
        """Die like a crashed process: cancel everything, acknowledge nothing (for tests and chaos drills)."""
        self._stopping.set()
        tasks = [*self._loops, *(task for _event, task in self._inflight.values())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- loops -------------------------------------------------------------------------------------

    async def _supervise(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                SUPERVISED_RESTARTS.labels(f"workers.{name}").inc()
                log.exception("workers.loop_crashed", loop=name, restart_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = 0.1 if time.monotonic() - started > 60 else min(backoff * 2, 10.0)

    async def _read_loop(self) -> None:
        while not self._stopping.is_set():
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                events = await self.queue.read(self.consumer, free, self.read_block_ms)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep trying, entries stay safe in the stream
                log.warning("workers.read_failed", error=str(exc))
                await asyncio.sleep(0.5)
                continue
            for event in events:
                self._spawn(event)

    async def _reclaim_loop(self) -> None:
        interval = max(self.reclaim_idle_ms / 2000, 0.05)
        while not self._stopping.is_set():
            await asyncio.sleep(interval)
            free = self.concurrency - len(self._inflight)
            if free <= 0:
                continue
            try:
                taken = await self.queue.reclaim(self.consumer, self.reclaim_idle_ms, free)
                events = await self.queue.admit([e for e in taken if e.entry_id not in self._inflight])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("workers.reclaim_failed", error=str(exc))
                continue
            for event in events:
                log.info("workers.reclaimed", entry_id=event.entry_id, event_id=event.event_id)
                self._spawn(event)

    async def _touch_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.queue.touch(self.consumer, [event for event, _task in self._inflight.values()])
                QUEUE_DEPTH.set(await self.queue.depth())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("workers.touch_failed", error=str(exc))
            await asyncio.sleep(self.heartbeat_interval_s)

    async def _retry_loop(self) -> None:
        """Due retries back into the stream; lanes whose owner vanished handed on. Every pool runs it: the
        queue's scripts make each move once, whoever gets there first."""
        interval = min(max(self.retry_backoff_ms / 4000, 0.01), 0.25)
        sweep_every = max(1, int(5 / interval))
        rounds = 0
        while not self._stopping.is_set():
            await asyncio.sleep(interval)
            rounds += 1
            try:
                await self.queue.release_due()
                if rounds % sweep_every == 0:
                    await self.queue.sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("workers.release_failed", error=str(exc))

    # -- one entry ---------------------------------------------------------------------------------

    def _spawn(self, event: FeishuEvent) -> None:
        task = asyncio.create_task(self._attempt(event), name=f"event:{event.event_id}")
        self._inflight[event.entry_id] = (event, task)

        def _done(_t: asyncio.Task[None], entry_id: str = event.entry_id) -> None:
            self._inflight.pop(entry_id, None)
            self._slot_free.set()

        task.add_done_callback(_done)

    def retry_delay_s(self, attempt: int) -> float:
        """Before attempt `attempt + 1`: the backoff doubles per failure, up to 64 times the base."""
        return self.retry_backoff_ms / 1000 * 2 ** min(attempt - 1, 6)

    async def _attempt(self, event: FeishuEvent) -> None:
        bind_ids(event_id=event.event_id, event_type=event.event_type, message_id=event.message_id)
        handler = self.registry.event_handler(event.event_type)
        started = time.perf_counter()
        try:
            if handler is None:
                log.warning("workers.unknown_event_type")
                outcome = "unknown"
            else:
                await asyncio.wait_for(handler(event), self.handler_timeout_s)
                outcome = "ok"
            await self.queue.finish(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("workers.handler_failed", attempt=event.attempt)
            EVENTS_PROCESSED.labels(event.event_type, "error").inc()
            try:
                dead = await self.queue.fail(event, error, self.retry_delay_s(event.attempt))
            except Exception:  # Redis down: the entry stays pending; reclaim retries it later
                log.exception("workers.record_failure_failed")
                return
            if dead:
                DEAD_LETTERS.inc()
                log.error("workers.dead_lettered", attempts=event.attempt, error=error)
            else:
                EVENTS_RETRY_SCHEDULED.inc()
            return
        finally:
            EVENT_PROCESSING.labels(event.event_type).observe(time.perf_counter() - started)
            clear_ids()
        EVENTS_PROCESSED.labels(event.event_type, outcome).inc()
        if self._on_processed is not None:
            await self._on_processed(event, outcome)
