"""Langfuse tracing of LLM calls over its public ingestion API, without the langfuse SDK.

`generation()` only appends to a bounded in-memory queue, so an LLM call never waits on Langfuse; a background
task posts batches to `POST {host}/api/public/ingestion`. A slow or dead Langfuse costs dropped events (counted
in LANGFUSE_DROPPED), never customer latency. Text is masked before it is queued.

Attribution without threading arguments through rag/: the turn sets `langfuse_context(session_id=...,
trace_id=...)` and any LLM call made inside it (same task or tasks it spawns) reports under that session.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog

from observability.masking import mask_value
from observability.metrics import LANGFUSE_DROPPED

log = structlog.get_logger("observability.langfuse")

INGESTION_PATH = "/api/public/ingestion"


@dataclass(frozen=True)
class LangfuseContext:
    session_id: str = ""
    trace_id: str = ""
    prompt_name: str = ""
    prompt_version: int | str | None = None


_EMPTY = LangfuseContext()
_context: contextvars.ContextVar[LangfuseContext | None] = contextvars.ContextVar(
    "larkdesk_langfuse_context", default=None
)


def current_context() -> LangfuseContext:
    return _context.get() or _EMPTY


@contextmanager
def langfuse_context(**fields: Any) -> Iterator[LangfuseContext]:
    """Set session_id / trace_id / prompt_name / prompt_version for LLM calls inside; unset fields are inherited."""
    ctx = replace(current_context(), **fields)
    token = _context.set(ctx)
    try:
        yield ctx
    finally:
        _context.reset(token)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LangfuseTracer:
    def __init__(
        self,
        *,
        public_key: str = "",
        secret_key: str = "",
        host: str = "https://cloud.langfuse.com",
        timeout_s: float = 3.0,
        enabled: bool = True,
        flush_interval_s: float = 1.0,
        batch_size: int = 50,
        max_queue: int = 2000,
    ) -> None:
        self.enabled = bool(enabled and public_key and secret_key)
        self.url = host.rstrip("/") + INGESTION_PATH
        self.timeout_s = timeout_s
        self.flush_interval_s = flush_interval_s
        self.batch_size = batch_size
        self.max_queue = max_queue
        self.dropped = 0
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"} if self.enabled else {}
        self._queue: deque[dict[str, Any]] = deque()
        self._seen_traces: OrderedDict[str, None] = OrderedDict()  # trace-create is sent once per trace id
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> LangfuseTracer:
        return cls(
            public_key=settings.langfuse_public_key,
            secret_key=settings.langfuse_secret_key,
            host=settings.langfuse_host,
            timeout_s=settings.langfuse_timeout_s,
            enabled=settings.langfuse_enabled,
        )

    @classmethod
    def disabled(cls) -> LangfuseTracer:
        return cls(enabled=False)

    # -- recording (non-blocking) ---------------------------------------------------------------------------

    def generation(
        self,
        *,
        name: str,
        model: str,
        input: Any,
        output: str,
        start: float,
        end: float,
        prompt_tokens: int,
        completion_tokens: int,
        session_id: str = "",
        trace_id: str = "",
        prompt_name: str = "",
        prompt_version: int | str | None = None,
        status: str = "ok",
    ) -> None:
        if not self.enabled:
            return
        trace_id = trace_id or uuid.uuid4().hex
        if trace_id not in self._seen_traces:
            self._seen_traces[trace_id] = None
            if len(self._seen_traces) > 10_000:
                self._seen_traces.popitem(last=False)
            trace = {"id": trace_id, "name": "turn", "timestamp": _iso(start)}
            if session_id:
                trace["sessionId"] = session_id
            self._put("trace-create", trace, start)
        body: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "traceId": trace_id,
            "name": name,
            "model": model,
            "input": mask_value(input),
            "output": mask_value(output),
            "startTime": _iso(start),
            "endTime": _iso(end),
            "usage": {"input": prompt_tokens, "output": completion_tokens,
                      "total": prompt_tokens + completion_tokens, "unit": "TOKENS"},
            "metadata": {"prompt_name": prompt_name, "prompt_version": prompt_version, "session_id": session_id},
        }
        if status != "ok":
            body["level"] = "ERROR"
            body["statusMessage"] = status
        self._put("generation-create", body, end)

    def _put(self, kind: str, body: dict[str, Any], ts: float) -> None:
        if len(self._queue) >= self.max_queue:
            # Counted, not logged: under a Langfuse outage this fires on every LLM call.
            self.dropped += 1
            LANGFUSE_DROPPED.labels("queue_full").inc()
            return
        self._queue.append({"id": uuid.uuid4().hex, "type": kind, "timestamp": _iso(ts), "body": body})
        if self._wake is not None and len(self._queue) >= self.batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        self._wake = asyncio.Event()
        self._closing = False
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        self._task = asyncio.create_task(self._run(), name="langfuse-flush")

    async def close(self) -> None:
        """Let the loop send what is left (an in-flight batch included, so nothing is sent twice), within
        `timeout_s`; whatever is still queued then is dropped."""
        if self._task is None or self._wake is None:
            return
        self._closing = True
        self._wake.set()
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._task  # a timeout cancels the loop too
        except TimeoutError:
            pass
        self._task = None
        if self._queue:
            self._drop("shutdown", len(self._queue))
            self._queue.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval_s)
            self._wake.clear()
            while self._queue:
                await self._flush()
            if self._closing:  # checked after a drain, so close() always gets one
                return

    def _drop(self, reason: str, count: int) -> None:
        self.dropped += count
        LANGFUSE_DROPPED.labels(reason).inc(count)
        log.warning("langfuse.dropped", reason=reason, events=count)

    async def _flush(self) -> None:
        """Post one batch; a failed batch is logged and dropped (tracing is best-effort)."""
        batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
        if not batch or self._session is None:
            return
        try:
            async with self._session.post(self.url, json={"batch": batch}, headers=self._headers) as resp:
                if resp.status >= 300 and resp.status != 207:
                    raise RuntimeError(f"HTTP {resp.status}: {(await resp.text())[:200]}")
                if resp.status == 207:  # per-event results; report rejected ones
                    errors = (await resp.json(content_type=None) or {}).get("errors") or []
                    if errors:
                        log.warning("langfuse.events_rejected", count=len(errors), first=str(errors[0])[:200])
        except asyncio.CancelledError:  # close() ran out of time mid-request
            self._drop("shutdown", len(batch))
            raise
        except Exception as exc:
            log.warning("langfuse.send_failed", error=f"{type(exc).__name__}: {exc}")
            self._drop("send_failed", len(batch))


_tracer: LangfuseTracer = LangfuseTracer.disabled()


def set_tracer(tracer: LangfuseTracer | None) -> None:
    global _tracer
    _tracer = tracer if tracer is not None else LangfuseTracer.disabled()


def get_tracer() -> LangfuseTracer:
    return _tracer
