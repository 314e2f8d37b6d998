"""Reads what a user wrote out of an `im.message.receive_v1` event (text and post), and who it was for."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_MENTION_KEY = re.compile(r"@_user_\d+|@_all")


@dataclass(frozen=True)
class IncomingMessage:
    message_id: str
    chat_id: str
    chat_type: str
    message_type: str
    text: str
    sender_open_id: str
    sender_type: str
    root_id: str
    parent_id: str
    thread_id: str
    mentioned_open_ids: tuple[str, ...]

    def mentions(self, open_id: str) -> bool:
        return bool(open_id) and open_id in self.mentioned_open_ids


def parse_message_event(event: dict[str, Any]) -> IncomingMessage:
    message = event.get("message") or {}
    sender = event.get("sender") or {}
    mentions = message.get("mentions") or []
    mentioned = tuple(
        str((m.get("id") or {}).get("open_id", "")) for m in mentions if isinstance(m, dict)
    )
    message_type = str(message.get("message_type", ""))
    return IncomingMessage(
        message_id=str(message.get("message_id", "")),
        chat_id=str(message.get("chat_id", "")),
        chat_type=str(message.get("chat_type", "")),
        message_type=message_type,
        text=_text_of(message_type, message.get("content") or ""),
        sender_open_id=str((sender.get("sender_id") or {}).get("open_id", "")),
        sender_type=str(sender.get("sender_type", "")),
        root_id=str(message.get("root_id") or ""),
        parent_id=str(message.get("parent_id") or ""),
        thread_id=str(message.get("thread_id") or ""),
        mentioned_open_ids=mentioned,
    )


def _text_of(message_type: str, content: str) -> str:
    try:
        body = json.loads(content) if isinstance(content, str) else content
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    if message_type == "text":
        text = str(body.get("text", ""))
    elif message_type == "post":
        parts = [str(body.get("title", ""))]
        for line in body.get("content") or []:
            parts.append("".join(str(el.get("text", "")) for el in line if isinstance(el, dict)))
        text = "\n".join(p for p in parts if p)
    else:
        return ""
    return " ".join(_MENTION_KEY.sub(" ", text).split())
