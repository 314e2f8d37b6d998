"""POST /feishu/events: verify, dedup, enqueue, answer in milliseconds; card callbacks answered inline."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import structlog
from aiohttp import web

from bot.events import FeishuEvent
from bot.queue import EventQueue
from bot.registry import HandlerRegistry
from bot.verify import CallbackRejected, CallbackVerifier, VerifiedCallback
from observability.logging import bind_ids, clear_ids
from observability.metrics import INGRESS_LATENCY, INGRESS_REQUESTS

log = structlog.get_logger("bot.ingress")

_SUCCESS = {"msg": "success"}
_CALLBACK_RESULT_TTL_S = 1800


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": {"code": code, "message": message}}, status=status)


class Ingress:
    def __init__(
        self,
        verifier: CallbackVerifier,
        queue: EventQueue,
        registry: HandlerRegistry,
        *,
        max_body_bytes: int,
        callback_timeout_s: float = 2.5,
    ) -> None:
        self.verifier = verifier
        self.queue = queue
        self.registry = registry
        self.max_body_bytes = max_body_bytes
        self.callback_timeout_s = callback_timeout_s

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        kind = "event"
        try:
            body = await self._read_body(request)
            verified = self.verifier.verify(request.headers, body)
            if verified.kind == "challenge":
                kind = "challenge"
                return web.json_response({"challenge": verified.challenge})
            bind_ids(event_id=verified.event_id, event_type=verified.event_type)
            if self.registry.callback_handler(verified.event_type) is not None:
                kind = "callback"
                return await self._answer_callback(verified)
            return await self._accept_event(verified)
        except CallbackRejected as exc:
            INGRESS_REQUESTS.labels(kind, f"rejected_{exc.status}").inc()
            log.warning("ingress.rejected", status=exc.status, reason=exc.reason, remote=request.remote)
            return error_response(exc.status, "rejected", exc.reason)
        finally:
            INGRESS_LATENCY.labels(kind).observe(time.perf_counter() - started)
            clear_ids()

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            raise CallbackRejected(413, f"body larger than {self.max_body_bytes} bytes")
        body = await request.content.read(self.max_body_bytes + 1)
        if len(body) > self.max_body_bytes:
            raise CallbackRejected(413, f"body larger than {self.max_body_bytes} bytes")
        if not body:
            raise CallbackRejected(400, "empty body")
        return body

    async def _accept_event(self, verified: VerifiedCallback) -> web.Response:
        if not self.registry.knows(verified.event_type):
            # Acknowledge so Feishu does not retry an event no one here will ever handle.
            INGRESS_REQUESTS.labels("event", "unknown_type").inc()
            log.info("ingress.unknown_event_type")
            return web.json_response(_SUCCESS)
        event = FeishuEvent(verified.event_id, verified.event_type, verified.payload)
        try:
            entry_id = await self.queue.enqueue(event)
        except Exception as exc:  # Redis down: answer 503 so Feishu retries later; nothing is lost
            INGRESS_REQUESTS.labels("event", "queue_unavailable").inc()
            log.error("ingress.enqueue_failed", error=str(exc))
            return error_response(503, "queue_unavailable", "event queue unavailable, retry later")
        INGRESS_REQUESTS.labels("event", "queued" if entry_id else "duplicate").inc()
        if entry_id is None:
            log.info("ingress.duplicate")
        return web.json_response(_SUCCESS)

    async def _answer_callback(self, verified: VerifiedCallback) -> web.Response:
        """Card clicks are never retried by Feishu and must answer in 3 s: run the handler inline.

        A duplicate delivery of the same event gets the first answer again instead of a second action.
        """
        redis = self.queue.redis
        key = f"larkdesk:callback:{verified.event_id}"
        try:
            first = await redis.set(key, "", nx=True, ex=_CALLBACK_RESULT_TTL_S)
            if not first:
                INGRESS_REQUESTS.labels("callback", "duplicate").inc()
                return web.json_response(json.loads(await redis.get(key) or "{}"))
        except Exception as exc:
            log.error("ingress.callback_dedup_failed", error=str(exc))
            return web.json_response(_toast("error", "服务暂时不可用，请稍后再试 / Service unavailable"))
        handler = self.registry.callback_handler(verified.event_type)
        assert handler is not None
        event = FeishuEvent(verified.event_id, verified.event_type, verified.payload)
        try:
            result: dict[str, Any] = await asyncio.wait_for(handler(event), self.callback_timeout_s)
            outcome = "ok"
        except TimeoutError:
            log.error("ingress.callback_timeout")
            result, outcome = _toast("warning", "处理超时，请稍后重试 / Timed out, please retry"), "timeout"
        except Exception:
            log.exception("ingress.callback_failed")
            result, outcome = _toast("error", "处理失败，请稍后重试 / Failed, please retry"), "error"
        INGRESS_REQUESTS.labels("callback", outcome).inc()
        try:
            await redis.set(key, json.dumps(result, ensure_ascii=False), ex=_CALLBACK_RESULT_TTL_S)
        except Exception as exc:
            log.warning("ingress.callback_result_not_stored", error=str(exc))
        return web.json_response(result)


def _toast(kind: str, content: str) -> dict[str, Any]:
    return {"toast": {"type": kind, "content": content}}
