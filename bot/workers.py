"""A pool of async workers over the event queue: bounded concurrency, ack after work, reclaim, drain."""

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
from observability.metrics import DEAD_LETTERS, EVENT_PROCESSING, EVENTS_PROCESSED, QUEUE_DEPTH

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
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._slot_free = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    async def start(self) -> None:
        await self.queue.ensure_group()
        self._stopping.clear()
        self._loops = [
            asyncio.create_task(self._read_loop(), name="workers.read"),
            asyncio.create_task(self._reclaim_loop(), name="workers.reclaim"),
            asyncio.create_task(self._touch_loop(), name="workers.touch"),
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
            _done, pending = await asyncio.wait(list(self._inflight.values()), timeout=drain_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("workers.stopped", consumer=self.consumer)

    async def kill(self) -> None:
        """Die like a crashed process: cancel everything, acknowledge nothing (for tests and chaos drills)."""
        self._stopping.set()
        tasks = [*self._loops, *self._inflight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- loops -------------------------------------------------------------------------------------

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
                await asyncio.sleep(1.0)
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
                events = await self.queue.reclaim(self.consumer, self.reclaim_idle_ms, free)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("workers.reclaim_failed", error=str(exc))
                continue
            for event in events:
                if event.entry_id not in self._inflight:
                    log.info("workers.reclaimed", entry_id=event.entry_id, event_id=event.event_id)
                    self._spawn(event)

    async def _touch_loop(self) -> None:
        interval = max(self.reclaim_idle_ms / 3000, 0.03)
        while not self._stopping.is_set():
            await asyncio.sleep(interval)
            try:
                await self.queue.touch(self.consumer, list(self._inflight))
                QUEUE_DEPTH.set(await self.queue.depth())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("workers.touch_failed", error=str(exc))

    # -- one entry ---------------------------------------------------------------------------------

    def _spawn(self, event: FeishuEvent) -> None:
        task = asyncio.create_task(self._process(event), name=f"event:{event.event_id}")
        self._inflight[event.entry_id] = task

        def _done(_t: asyncio.Task[None], entry_id: str = event.entry_id) -> None:
            self._inflight.pop(entry_id, None)
            self._slot_free.set()

        task.add_done_callback(_done)

    async def _process(self, event: FeishuEvent) -> None:
        lock = self._key_locks.setdefault(event.ordering_key, asyncio.Lock())
        try:
            async with lock:
                await self._process_with_retries(event)
        finally:
            if not lock.locked() and self._key_locks.get(event.ordering_key) is lock:
                del self._key_locks[event.ordering_key]

    async def _process_with_retries(self, event: FeishuEvent) -> None:
        attempt = event.attempt
        while True:
            outcome = await self._attempt(event, attempt)
            if outcome != "retry":
                return
            attempt += 1
            backoff = self.retry_backoff_ms / 1000 * 2 ** min(attempt - 2, 6)
            await asyncio.sleep(backoff)

    async def _attempt(self, event: FeishuEvent, attempt: int) -> str:
        bind_ids(event_id=event.event_id, event_type=event.event_type, message_id=event.message_id)
        handler = self.registry.event_handler(event.event_type)
        started = time.perf_counter()
        try:
            if handler is None:
                log.warning("workers.unknown_event_type")
                outcome = "unknown"
            else:
                await asyncio.wait_for(handler(_with_attempt(event, attempt)), self.handler_timeout_s)
                outcome = "ok"
            await self.queue.ack(event.entry_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception("workers.handler_failed", attempt=attempt)
            try:
                dead = await self.queue.record_failure(event, error)
            except Exception:  # Redis down: leave the entry pending; reclaim retries it later
                log.exception("workers.record_failure_failed")
                return "gave_up"
            EVENTS_PROCESSED.labels(event.event_type, "error").inc()
            if dead:
                DEAD_LETTERS.inc()
                log.error("workers.dead_lettered", attempts=attempt, error=error)
                return "dead"
            return "retry"
        finally:
            EVENT_PROCESSING.labels(event.event_type).observe(time.perf_counter() - started)
            clear_ids()
        EVENTS_PROCESSED.labels(event.event_type, outcome).inc()
        if self._on_processed is not None:
            await self._on_processed(event, outcome)
        return outcome


def _with_attempt(event: FeishuEvent, attempt: int) -> FeishuEvent:
    if event.attempt == attempt:
        return event
    return FeishuEvent(
        event_id=event.event_id,
        event_type=event.event_type,
        payload=event.payload,
        entry_id=event.entry_id,
        attempt=attempt,
        received_at_ms=event.received_at_ms,
        extra=event.extra,
    )
