"""Answers from knowledge: the message responder, "did you mean" cards, and what a suggestion click does."""

from __future__ import annotations

from typing import Any

import structlog

from bot.events import FeishuEvent
from bot.feishu import FeishuClient
from bot.handlers.messages import Reply, Responder, send_reply
from bot.intake import toast
from bot.message_text import IncomingMessage
from bot.queue import EventQueue
from config.messages import t
from rag.answer import Answer, Answerer

log = structlog.get_logger("bot.knowledge")

ASK_EVENT = "larkdesk.card_ask_v1"  # internal event: a customer clicked a suggested question


def suggestion_card(answer: Answer, language: str) -> dict[str, Any]:
    buttons = [
        {"tag": "button", "element_id": f"ask_{i}", "type": "default", "width": "fill",
         "text": {"tag": "plain_text", "content": question},
         "behaviors": [{"type": "callback", "value": {"action": "ask", "question": question}}]}
        for i, question in enumerate(answer.suggestions)
    ]
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": t("did_you_mean", language)}},
        "header": {"title": {"tag": "plain_text", "content": t("did_you_mean", language)}, "template": "blue"},
        "body": {"elements": buttons},
    }


def reply_for(answer: Answer, language: str) -> Reply:
    if answer.decision == "suggest" and answer.suggestions:
        return Reply(card=suggestion_card(answer, language))
    return Reply(text=answer.text)


def knowledge_responder(answerer: Answerer, language: str) -> Responder:
    async def respond(message: IncomingMessage) -> Reply | None:
        return reply_for(await answerer.answer(message.text), language)

    return respond


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


def ask_handler(feishu: FeishuClient, answerer: Answerer, language: str) -> Any:
    async def handle(event: FeishuEvent) -> None:
        body = event.event
        answer = await answerer.answer(str(body.get("question", "")))
        reply = reply_for(answer, language)
        await send_reply(feishu, str(body["message_id"]), str(body.get("chat_id", "")), reply,
                         uuid=f"ask-{event.event_id}"[:50])

    return handle
