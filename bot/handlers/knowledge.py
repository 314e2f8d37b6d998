"""A customer's clicks on the bot's own cards: a did-you-mean button, "转人工", "this answered me" / "not helpful".

Each is acknowledged at once (Feishu allows 3 s) and answered after the click as the customer's next turn,
through the durable queue like any message.
"""

from __future__ import annotations

from typing import Any

import structlog

from bot.handlers.messages import Reply, send_reply
from bot.intake import toast
from bot.queue import EventQueue
from feishu import FeishuClient
from feishu.events import FeishuEvent

log = structlog.get_logger("bot.knowledge")

ASK_EVENT = "larkdesk.card_ask_v1"  # internal event: a customer clicked one of the bot's answer cards
CUSTOMER_ACTIONS = ("ask", "human", "feedback")


def ask_action(queue: EventQueue) -> Any:
    """A click on a suggested entry, the hand-over button or a feedback button: answered after the callback."""

    async def on_click(event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        context = event.event.get("context") or {}
        action = str(value.get("action"))
        question = str(value.get("question") or "")[:500]
        payload = {"header": {"event_id": f"ask-{event.event_id}", "event_type": ASK_EVENT},
                   "event": {"kind": action, "question": question, "key": str(value.get("key") or "")[:200],
                             "helpful": bool(value.get("helpful")),
                             "chat_id": context.get("open_chat_id", ""),
                             "message_id": context.get("open_message_id", ""),
                             "open_id": (event.event.get("operator") or {}).get("open_id", "")}}
        await queue.enqueue(FeishuEvent(f"ask-{event.event_id}", ASK_EVENT, payload))
        if action == "feedback":
            return toast("success", "感谢反馈 / Thanks for the feedback")
        return toast("info", question or "正在为您转接人工客服… / Connecting you to an agent…")

    return on_click


def ask_handler(feishu: FeishuClient, customer: Any) -> Any:
    """Answers a click as the customer's next turn (`customer`: bot/handlers/customer.py CustomerResponder)."""

    async def handle(event: FeishuEvent) -> None:
        body = event.event
        open_id, chat_id = str(body.get("open_id", "")), str(body.get("chat_id", ""))
        kind = str(body.get("kind") or "ask")
        if kind == "feedback":
            reply: Reply | None = await customer.feedback(open_id, chat_id, bool(body.get("helpful")))
        elif kind == "human":
            reply = await customer.human(open_id, chat_id)
        else:
            reply = await customer.ask(open_id, chat_id, str(body.get("question", "")), str(body.get("key", "")))
        if reply is not None:
            await send_reply(feishu, str(body["message_id"]), chat_id, reply, uuid=f"ask-{event.event_id}"[:50])

    return handle
