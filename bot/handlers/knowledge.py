"""A customer's click on a "did you mean" button: acknowledged at once, answered as a turn after the click."""

from __future__ import annotations

from typing import Any

import structlog

from bot.handlers.messages import Reply, send_reply
from bot.intake import toast
from bot.queue import EventQueue
from feishu import FeishuClient
from feishu.events import FeishuEvent

log = structlog.get_logger("bot.knowledge")

ASK_EVENT = "larkdesk.card_ask_v1"  # internal event: a customer clicked a suggested question


def ask_action(queue: EventQueue) -> Any:
    """A click on a suggested question: answer it after the callback returns (Feishu allows 3 s)."""

    async def on_ask(event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        context = event.event.get("context") or {}
        question = str(value.get("question") or "")[:500]
        payload = {"header": {"event_id": f"ask-{event.event_id}", "event_type": ASK_EVENT},
                   "event": {"question": question, "chat_id": context.get("open_chat_id", ""),
                             "message_id": context.get("open_message_id", ""),
                             "open_id": (event.event.get("operator") or {}).get("open_id", "")}}
        await queue.enqueue(FeishuEvent(f"ask-{event.event_id}", ASK_EVENT, payload))
        return toast("info", question)

    return on_ask


def ask_handler(feishu: FeishuClient, ask: Any) -> Any:
    """`ask(open_id, chat_id, question)` answers the question as the customer's next turn."""

    async def handle(event: FeishuEvent) -> None:
        body = event.event
        reply: Reply | None = await ask(str(body.get("open_id", "")), str(body.get("chat_id", "")),
                                        str(body.get("question", "")))
        if reply is not None:
            await send_reply(feishu, str(body["message_id"]), str(body.get("chat_id", "")), reply,
                             uuid=f"ask-{event.event_id}"[:50])

    return handle
