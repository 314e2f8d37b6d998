"""What happens to a verified event, whichever way it arrived (webhook or long connection)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog

from bot.queue import EventQueue
from bot.registry import HandlerRegistry
from feishu.event_schema import is_internal, schema_problem
from feishu.events import FeishuEvent
from feishu.safe_json import without_lone_surrogates
from observability.masking import mask_value
from observability.metrics import EVENTS_INVALID, INGRESS_REQUESTS

log = structlog.get_logger("bot.intake")

_CALLBACK_RESULT_TTL_S = 1800


class QueueUnavailable(Exception):
    """The event could not be queued; the sender must retry (HTTP 503, or a 500 frame on the long connection)."""


class EventIntake:
    def __init__(self, queue: EventQueue, registry: HandlerRegistry, *, callback_timeout_s: float = 2.5) -> None:
        self.queue = queue
        self.registry = registry
        self.callback_timeout_s = callback_timeout_s
        self._storing: set[asyncio.Task] = set()

    def is_callback(self, event_type: str) -> bool:
        return self.registry.callback_handler(event_type) is not None

    def check(self, event: FeishuEvent) -> tuple[str, FeishuEvent]:
        """("ok", the event with its strings made storable) or the outcome that drops it at the door:
        "refused" (an internal event type), "unknown" (no handler) or "invalid" (does not fit its schema)."""
        if is_internal(event.event_type):
            INGRESS_REQUESTS.labels(_kind(self, event), "refused_internal").inc()
            log.warning("intake.internal_type_refused")
            return "refused", event
        if not self.registry.knows(event.event_type):
            # Acknowledged so Feishu does not retry an event no one here will ever handle.
            INGRESS_REQUESTS.labels("event", "unknown_type").inc()
            log.info("intake.unknown_event_type")
            return "unknown", event
        event = storable(event)
        problem = schema_problem(event.event_id, event.event_type, event.payload)
        if problem is not None:
            # Acknowledged and logged once: retrying cannot fix a payload of the wrong shape.
            EVENTS_INVALID.labels(event.event_type[:64]).inc()
            INGRESS_REQUESTS.labels(_kind(self, event), "invalid").inc()
            log.warning("intake.invalid_event", problem=problem)
            return "invalid", event
        return "ok", event

    async def accept(self, event: FeishuEvent) -> str:
        """Queue an event for the workers: returns "queued" or "duplicate", or why it was dropped (acknowledged):
        "refused", "unknown", "invalid"."""
        outcome, event = self.check(event)
        if outcome != "ok":
            return outcome
        try:
            entry_id = await self.queue.enqueue(event)
        except Exception as exc:
            INGRESS_REQUESTS.labels("event", "queue_unavailable").inc()
            log.error("intake.enqueue_failed", error=str(exc))
            raise QueueUnavailable(str(exc)) from exc
        outcome = "queued" if entry_id else "duplicate"
        INGRESS_REQUESTS.labels("event", outcome).inc()
        if entry_id is None:
            log.info("intake.duplicate")
        return outcome

    async def answer_callback(self, event: FeishuEvent) -> dict[str, Any]:
        """Card clicks are never retried by Feishu and must answer in 3 s: run the handler inline.

        A duplicate delivery of the same event gets the first answer again instead of a second action.
        """
        outcome, event = self.check(event)
        if outcome != "ok":
            return toast("warning", "无效的操作 / Invalid action")
        redis = self.queue.redis
        key = f"larkdesk:callback:{event.event_id}"
        try:
            if not await redis.set(key, "", nx=True, ex=_CALLBACK_RESULT_TTL_S):
                INGRESS_REQUESTS.labels("callback", "duplicate").inc()
                return json.loads(await redis.get(key) or "{}")
        except Exception as exc:
            log.error("intake.callback_dedup_failed", error=str(exc))
            return toast("error", "服务暂时不可用，请稍后再试 / Service unavailable")
        handler = self.registry.callback_handler(event.event_type)
        assert handler is not None
        try:
            result: dict[str, Any] = await asyncio.wait_for(handler(event), self.callback_timeout_s)
            outcome = "ok"
        except TimeoutError:
            log.error("intake.callback_timeout")
            result, outcome = toast("warning", "处理超时，请稍后重试 / Timed out, please retry"), "timeout"
        except Exception:
            log.exception("intake.callback_failed")
            result, outcome = toast("error", "处理失败，请稍后重试 / Failed, please retry"), "error"
        INGRESS_REQUESTS.labels("callback", outcome).inc()
        # Stored after the answer goes out: a duplicate delivery needs it, the clicking agent does not wait for it.
        task = asyncio.create_task(self._store_result(key, result))
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)
        return result

    async def _store_result(self, key: str, result: dict[str, Any]) -> None:
        # Masked: a toast may reveal a phone number to the clicking agent; the stored copy must not keep it.
        try:
            await self.queue.redis.set(key, json.dumps(mask_value(result), ensure_ascii=False),
                                       ex=_CALLBACK_RESULT_TTL_S)
        except Exception as exc:
            log.warning("intake.callback_result_not_stored", error=str(exc))


def _kind(intake: EventIntake, event: FeishuEvent) -> str:
    return "callback" if intake.is_callback(event.event_type) else "event"


def storable(event: FeishuEvent) -> FeishuEvent:
    """The event with lone surrogates replaced: Redis (UTF-8) refuses them, and an event that cannot be queued
    would be answered 503 and retried by Feishu forever."""
    try:
        event.dumps().encode("utf-8")
        (event.event_id + event.event_type).encode("utf-8")
        return event
    except UnicodeEncodeError:
        return FeishuEvent(without_lone_surrogates(event.event_id), without_lone_surrogates(event.event_type),
                           without_lone_surrogates(event.payload))


def toast(kind: str, content: str) -> dict[str, Any]:
    return {"toast": {"type": kind, "content": content}}
