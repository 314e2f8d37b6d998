"""Reads what a user wrote out of an `im.message.receive_v1` event (text and post), and who it was for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from feishu.safe_json import JsonRejected, loads_bounded

_MENTION_KEY = re.compile(r"@_user_\d+|@_all")
_MAX_CONTENT_BYTES = 256 * 1024


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


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


def parse_message_event(event: Any) -> IncomingMessage:
    """Never raises: a field of the wrong type reads as empty (the ingress refuses such events anyway)."""
    event = _dict(event)
    message = _dict(event.get("message"))
    sender = _dict(event.get("sender"))
    mentioned = tuple(_str(_dict(_dict(m).get("id")).get("open_id")) for m in _list(message.get("mentions")))
    message_type = _str(message.get("message_type"))
    return IncomingMessage(
        message_id=_str(message.get("message_id")),
        chat_id=_str(message.get("chat_id")),
        chat_type=_str(message.get("chat_type")),
        message_type=message_type,
        text=_text_of(message_type, message.get("content")),
        sender_open_id=_str(_dict(sender.get("sender_id")).get("open_id")),
        sender_type=_str(sender.get("sender_type")),
        root_id=_str(message.get("root_id")),
        parent_id=_str(message.get("parent_id")),
        thread_id=_str(message.get("thread_id")),
        mentioned_open_ids=tuple(m for m in mentioned if m),
    )


def _text_of(message_type: str, content: Any) -> str:
    if isinstance(content, str):
        try:
            body = loads_bounded(content, max_bytes=_MAX_CONTENT_BYTES)
        except JsonRejected:
            return ""
    else:
        body = content
    body = _dict(body)
    if message_type == "text":
        text = _str(body.get("text"))
    elif message_type == "post":
        if "content" not in body and len(body) == 1:  # a localized post: {"zh_cn": {"title", "content"}}
            body = _dict(next(iter(body.values())))
        parts = [_str(body.get("title"))]
        for line in _list(body.get("content")):
            parts.append("".join(_str(_dict(el).get("text")) for el in _list(line)))
        text = "\n".join(p for p in parts if p)
    else:
        return ""
    return " ".join(_MENTION_KEY.sub(" ", text).split())
