"""POST /feishu/events: verify, dedup, enqueue, answer in milliseconds; card callbacks answered inline."""

from __future__ import annotations

import time

import structlog
from aiohttp import web

from bot.intake import EventIntake, QueueUnavailable
from feishu.events import FeishuEvent
from feishu.verify import CallbackRejected, CallbackVerifier
from observability.logging import bind_ids, clear_ids
from observability.metrics import INGRESS_LATENCY, INGRESS_REQUESTS

log = structlog.get_logger("bot.ingress")

_SUCCESS = {"msg": "success"}
# Headers the checks read; a value that is not ASCII is refused before any of them looks at it.
_SIGNED_HEADERS = ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature")


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": {"code": code, "message": message}}, status=status)


class Ingress:
    def __init__(self, verifier: CallbackVerifier, intake: EventIntake, *, max_body_bytes: int) -> None:
        self.verifier = verifier
        self.intake = intake
        self.max_body_bytes = max_body_bytes

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        kind = "event"
        try:
            body = await self._read_body(request)
            _check_headers(request)
            verified = self.verifier.verify(request.headers, body)
            if verified.kind == "challenge":
                kind = "challenge"
                return web.json_response({"challenge": verified.challenge})
            bind_ids(event_id=verified.event_id, event_type=verified.event_type)
            event = FeishuEvent(verified.event_id, verified.event_type, verified.payload)
            if self.intake.is_callback(event.event_type):
                kind = "callback"
                return web.json_response(await self.intake.answer_callback(event))
            try:
                outcome = await self.intake.accept(event)
            except QueueUnavailable:  # answer 503 so Feishu retries later; nothing is lost
                return error_response(503, "queue_unavailable", "event queue unavailable, retry later")
            if outcome == "refused":
                return error_response(403, "internal_event_type", "internal event types are not accepted here")
            return web.json_response(_SUCCESS)
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


def _check_headers(request: web.Request) -> None:
    for name in _SIGNED_HEADERS:
        value = request.headers.get(name, "")
        if not value.isascii():
            raise CallbackRejected(400, f"{name} must be ASCII")
