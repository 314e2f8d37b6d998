"""Event delivery to the bot, as Feishu does it: encrypted, signed, timed out, retried."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import structlog

from emulator import crypto, ids
from emulator.config import EmulatorConfig
from emulator.state import DeliveryRecord, EmulatorState

if TYPE_CHECKING:
    from emulator.longconn import LongConnHub

log = structlog.get_logger("emulator")

# (status, parsed body, latency ms, error)
PostResult = tuple[int | None, Any, float, str | None]


@dataclass
class _Batch:
    envelopes: list[dict]
    done: asyncio.Future | None = None
    records: list[DeliveryRecord] = field(default_factory=list)


class Deliverer:
    """Sends events from one queue (first attempts, `delivery_concurrency` at a time); retries run beside it."""

    def __init__(self, config: EmulatorConfig, state: EmulatorState) -> None:
        self.config = config
        self.state = state
        self.rng = random.Random(config.seed)
        self._session: aiohttp.ClientSession | None = None
        self._queue: asyncio.Queue[_Batch] | None = None
        self._workers: list[asyncio.Task] = []
        self._retries: set[asyncio.Task] = set()
        self.longconn: LongConnHub | None = None  # set by EmulatorService

    def over_longconn(self) -> bool:
        """Whether events and card callbacks go over the long connection instead of HTTP."""
        mode = self.config.event_transport
        if self.longconn is None or mode == "webhook":
            return False
        return mode == "websocket" or self.longconn.connected > 0

    async def send(self, url: str | None, payload: dict) -> tuple[str | None, PostResult]:
        """One delivery over the long connection or HTTP: (where it went, post-style result)."""
        if self.over_longconn():
            assert self.longconn is not None
            return await self.longconn.push(payload, self.config.delivery_timeout_s)
        return url, await self.post(url, payload)

    # plumbing

    def _ensure(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._workers = [w for w in self._workers if not w.done()]
        while len(self._workers) < max(1, self.config.delivery_concurrency):
            self._workers.append(asyncio.get_running_loop().create_task(self._run()))

    async def close(self) -> None:
        await self.cancel_pending()
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        self._workers = []
        self._queue = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def cancel_pending(self) -> None:
        """Drop queued first attempts and scheduled retries."""
        tasks = list(self._retries)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._retries.clear()
        if self._queue is not None:
            while not self._queue.empty():
                batch = self._queue.get_nowait()
                if batch.done and not batch.done.done():
                    batch.done.cancel()
                self._queue.task_done()

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued delivery and every scheduled retry has finished."""
        async with asyncio.timeout(timeout_s):
            while True:
                if self._queue is not None:
                    await self._queue.join()
                if not self._retries:
                    if self._queue is None or self._queue.empty():
                        return
                    continue
                await asyncio.gather(*list(self._retries), return_exceptions=True)

    # envelopes

    def envelope(
        self, event_type: str, event: dict, *, create_time: str | None = None, header: dict | None = None
    ) -> dict:
        hdr = {
            "event_id": ids.event_id(),
            "event_type": event_type,
            "create_time": create_time or str(ids.now_ms()),
            "token": self.config.verification_token,
            "app_id": self.config.app_id,
            "tenant_key": self.config.tenant_key,
        }
        hdr.update(header or {})
        return {"schema": "2.0", "header": hdr, "event": event}

    def encode(self, payload: dict) -> tuple[bytes, dict[str, str]]:
        plain = json.dumps(payload, ensure_ascii=False)
        key = self.config.encrypt_key
        body = json.dumps({"encrypt": crypto.encrypt(plain, key)}) if key else plain
        raw = body.encode("utf-8")
        ts = str(int(time.time()))
        nonce = ids.hex_id(16)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": crypto.signature(ts, nonce, key, raw),
            "X-Request-Id": ids.log_id(),
        }
        return raw, headers

    async def post(self, url: str | None, payload: dict) -> tuple[int | None, Any, float, str | None]:
        """One POST: (status, parsed body, latency ms, error)."""
        if not url:
            return None, None, 0.0, "no callback url configured"
        self._ensure()
        assert self._session is not None
        raw, headers = self.encode(payload)
        start = time.perf_counter()
        try:
            timeout = aiohttp.ClientTimeout(total=self.config.delivery_timeout_s)
            async with self._session.post(url, data=raw, headers=headers, timeout=timeout) as resp:
                text = await resp.text(errors="replace")
                status: int | None = resp.status
                error = None if resp.status == 200 else f"HTTP {resp.status}"
        except TimeoutError:
            status, text, error = None, "", f"timeout after {self.config.delivery_timeout_s}s"
        except aiohttp.ClientError as exc:
            status, text, error = None, "", f"{type(exc).__name__}: {exc}"
        latency = (time.perf_counter() - start) * 1000
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text[:2000]
        return status, body, latency, error

    def _record(
        self,
        envelope: dict,
        kind: str,
        attempt: int,
        copy: int,
        url: str | None,
        result: tuple[int | None, Any, float, str | None],
    ) -> DeliveryRecord:
        status, body, latency, error = result
        hdr = envelope.get("header") or {}
        rec = DeliveryRecord(
            event_id=hdr.get("event_id", ""),
            event_type=hdr.get("event_type", envelope.get("type", "")),
            attempt=attempt,
            copy=copy,
            url=url,
            status=status,
            latency_ms=round(latency, 2),
            response_body=body,
            error=error,
            time=time.time(),
            kind=kind,
        )
        self.state.deliveries.append(rec)
        log.info(
            "emulator.delivery",
            event_id=rec.event_id,
            event_type=rec.event_type,
            kind=kind,
            attempt=attempt,
            copy=copy,
            status=status,
            latency_ms=rec.latency_ms,
            error=error,
        )
        return rec

    # events (queued, retried)

    def dispatch(self, envelopes: list[dict], *, wait: bool = False) -> asyncio.Future | None:
        """Queue a batch of events. Returns a future of the first-attempt records when wait is set."""
        self._ensure()
        assert self._queue is not None
        done = asyncio.get_running_loop().create_future() if wait else None
        self._queue.put_nowait(_Batch(list(envelopes), done))
        return done

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = await queue.get()
            try:
                await self._send_batch(batch)
            except Exception as exc:  # never let the worker die
                log.exception("emulator.delivery_failed", error=str(exc))
            finally:
                if batch.done and not batch.done.done():
                    batch.done.set_result(batch.records)
                queue.task_done()

    async def _send_batch(self, batch: _Batch) -> None:
        items = [(env, copy) for env in batch.envelopes for copy in range(max(1, self.config.duplicates))]
        if self.config.reorder and len(items) > 1:
            self.rng.shuffle(items)
        for env, copy in items:
            if copy and self.config.duplicate_new_event_id:
                env = {**env, "header": {**env["header"], "event_id": ids.event_id()}}
            if self.config.delay_s > 0:
                await asyncio.sleep(self.config.delay_s)
            batch.records.append(await self._attempt(env, copy, 1))

    async def _attempt(self, envelope: dict, copy: int, attempt: int) -> DeliveryRecord:
        url, result = await self.send(self.config.event_callback_url, envelope)
        rec = self._record(envelope, "event", attempt, copy, url, result)
        if rec.status != 200 and url and attempt <= len(self.config.retry_schedule_s):
            delay = self.config.retry_schedule_s[attempt - 1] * self.config.retry_time_scale
            task = asyncio.get_running_loop().create_task(self._retry_later(envelope, copy, attempt + 1, delay))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)
        return rec

    async def _retry_later(self, envelope: dict, copy: int, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._attempt(envelope, copy, attempt)

    # synchronous kinds (never retried)

    async def card_callback(self, envelope: dict) -> DeliveryRecord:
        url, result = await self.send(self.config.effective_card_callback_url, envelope)
        return self._record(envelope, "card", 1, 0, url, result)

    async def url_verification(self, challenge: str | None = None) -> dict:
        challenge = challenge or ids.hex_id(20)
        payload = {"challenge": challenge, "token": self.config.verification_token, "type": "url_verification"}
        url = self.config.event_callback_url
        result = await self.post(url, payload)
        rec = self._record(
            {"header": {"event_id": "", "event_type": "url_verification"}}, "url_verification", 1, 0, url, result
        )
        body = rec.response_body
        ok = rec.status == 200 and isinstance(body, dict) and body.get("challenge") == challenge
        return {
            "ok": ok,
            "challenge": challenge,
            "status": rec.status,
            "response": body,
            "latency_ms": rec.latency_ms,
            "error": rec.error,
        }
