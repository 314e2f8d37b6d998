"""`im.message.receive_v1`: who the bot answers and how (RAG plugs in through `Responder`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from bot.events import FeishuEvent
from bot.feishu import FeishuClient
from bot.message_text import IncomingMessage, parse_message_event
from config.messages import t

log = structlog.get_logger("bot.messages")

# Given the parsed message, return the reply text (or None to stay silent).
Responder = Callable[[IncomingMessage], Awaitable[str | None]]


def echo_responder(language: str) -> Responder:
    async def respond(message: IncomingMessage) -> str | None:
        return t("echo", language, text=message.text)

    return respond


def reply_uuid(message_id: str, part: int = 0) -> str:
    """Idempotency key for the bot's reply to one user message (≤ 50 chars)."""
    return f"r{part}-{message_id}"[:50]


class MessageHandler:
    def __init__(self, feishu: FeishuClient, responder: Responder, *, bot_open_id: str, language: str) -> None:
        self.feishu = feishu
        self.responder = responder
        self.bot_open_id = bot_open_id
        self.language = language

    async def __call__(self, event: FeishuEvent) -> None:
        message = parse_message_event(event.event)
        if message.sender_type and message.sender_type != "user":
            return  # never answer other bots (or ourselves)
        if message.chat_type == "group" and not await self._mentioned(message):
            return
        if message.message_type not in ("text", "post"):
            reply = t("unsupported_message", self.language)
        elif not message.text:
            reply = t("empty_message", self.language)
        else:
            reply = await self.responder(message)
        if not reply:
            return
        await self.feishu.reply_text(message.message_id, reply, uuid=reply_uuid(message.message_id),
                                     chat_id=message.chat_id)
        log.info("messages.replied", chat_type=message.chat_type)

    async def _mentioned(self, message: IncomingMessage) -> bool:
        if not self.bot_open_id:
            self.bot_open_id = await self.feishu.bot_open_id()
        return message.mentions(self.bot_open_id)
