"""What happens to a verified event, whichever way it arrived (webhook or long connection)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog

from bot.queue import EventQueue
from bot.registry import HandlerRegistry
from feishu.events import FeishuEvent
from observability.metrics import INGRESS_REQUESTS

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

    async def accept(self, event: FeishuEvent) -> str:
        """Queue an event for the workers: returns "queued", "duplicate" or "unknown" (dropped, acknowledged)."""
        if not self.registry.knows(event.event_type):
            # Acknowledged so Feishu does not retry an event no one here will ever handle.
            INGRESS_REQUESTS.labels("event", "unknown_type").inc()
            log.info("intake.unknown_event_type")
            return "unknown"
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
        try:
            await self.queue.redis.set(key, json.dumps(result, ensure_ascii=False), ex=_CALLBACK_RESULT_TTL_S)
        except Exception as exc:
            log.warning("intake.callback_result_not_stored", error=str(exc))


def toast(kind: str, content: str) -> dict[str, Any]:
    return {"toast": {"type": kind, "content": content}}
