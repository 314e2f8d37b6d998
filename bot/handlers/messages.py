"""`im.message.receive_v1`: who the bot answers and how (the answer itself comes from a `Responder`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from config.messages import t
from feishu import FeishuClient
from feishu.events import FeishuEvent
from feishu.message_text import IncomingMessage, parse_message_event

log = structlog.get_logger("bot.messages")


@dataclass(frozen=True)
class Reply:
    text: str = ""
    card: dict[str, Any] | None = None
    in_thread: bool = False  # answer inside the message's thread (the agent group's session threads)


# Given the parsed message, return the reply (or None to stay silent).
Responder = Callable[[IncomingMessage], Awaitable[Reply | None]]


def echo_responder(language: str) -> Responder:
    async def respond(message: IncomingMessage) -> Reply | None:
        return Reply(text=t("echo", language, text=message.text))

    return respond


def reply_uuid(message_id: str, part: int = 0) -> str:
    """Idempotency key for the bot's reply to one user message (≤ 50 chars)."""
    return f"r{part}-{message_id}"[:50]


async def send_reply(feishu: FeishuClient, message_id: str, chat_id: str, reply: Reply, *, uuid: str) -> None:
    if reply.card is not None:
        await feishu.reply(message_id, "interactive", reply.card, uuid=uuid, chat_id=chat_id,
                           reply_in_thread=reply.in_thread)
    elif reply.text:
        await feishu.reply_text(message_id, reply.text, uuid=uuid, chat_id=chat_id, reply_in_thread=reply.in_thread)


class MessageHandler:
    def __init__(self, feishu: FeishuClient, responder: Responder, *, bot_open_id: str, language: str,
                 max_attempts: int = 5, listen_chats: frozenset[str] = frozenset()) -> None:
        self.feishu = feishu
        # Groups whose every message matters without an @ (the agent group: agents reply in session threads).
        self.listen_chats = listen_chats
        self.responder = responder
        self.bot_open_id = bot_open_id
        self.language = language
        self.max_attempts = max_attempts

    async def __call__(self, event: FeishuEvent) -> None:
        message = parse_message_event(event.event)
        if message.sender_type and message.sender_type != "user":
            return  # never answer other bots (or ourselves)
        if (message.chat_type == "group" and message.chat_id not in self.listen_chats
                and not await self._mentioned(message)):
            return
        if message.message_type not in ("text", "post"):
            reply: Reply | None = Reply(text=t("unsupported_message", self.language))
        elif not message.text:
            reply = Reply(text=t("empty_message", self.language))
        else:
            try:
                reply = await self.responder(message)
            except Exception:
                if event.attempt < self.max_attempts:
                    raise  # the queue retries with backoff (the vector store or LLM may be back by then)
                # Last attempt: tell the customer rather than stay silent; the event still goes to dead letters.
                await send_reply(self.feishu, message.message_id, message.chat_id,
                                 Reply(text=t("service_unavailable", self.language)),
                                 uuid=reply_uuid(message.message_id))
                raise
        if reply is None:
            return
        await send_reply(self.feishu, message.message_id, message.chat_id, reply, uuid=reply_uuid(message.message_id))
        log.info("messages.replied", chat_type=message.chat_type, card=reply.card is not None)

    async def _mentioned(self, message: IncomingMessage) -> bool:
        if not self.bot_open_id:
            self.bot_open_id = await self.feishu.bot_open_id()
        return message.mentions(self.bot_open_id)
