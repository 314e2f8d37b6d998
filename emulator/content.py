"""Validation of im message `content` per msg_type."""

from __future__ import annotations

import json
from typing import Any

from emulator.cards import CardError, validate_card
from emulator.httputil import FeishuError

TEXT_LIMIT = 150 * 1024
CARD_POST_LIMIT = 30 * 1024
_KEY_TYPES = {
    "image": "image_key",
    "file": "file_key",
    "audio": "file_key",
    "media": "file_key",
    "sticker": "file_key",
    "share_chat": "chat_id",
    "share_user": "user_id",
}
MSG_TYPES = {"text", "post", "interactive", *_KEY_TYPES}


def _bad(msg: str) -> FeishuError:
    return FeishuError(230001, f"Your request contains an invalid request parameter, ext={msg}", 400)


def _card_failed(msg: str) -> FeishuError:
    return FeishuError(230099, f"Failed to create card content, ext=ErrMsg: {msg};", 400)


def check_content(msg_type: str, content: Any, cards: dict) -> tuple[Any, str | None]:
    """Parse and check `content`; returns (parsed, card_id of a CardKit reference or None)."""
    if msg_type not in MSG_TYPES:
        raise _bad(f"unsupported msg_type {msg_type!r}")
    if not isinstance(content, str):
        raise _bad("content must be a JSON string")
    size = len(content.encode("utf-8"))
    limit = TEXT_LIMIT if msg_type == "text" else CARD_POST_LIMIT
    if size > limit:
        raise FeishuError(230025, f"The message content is too long: {size} bytes > {limit}", 400)
    try:
        parsed = json.loads(content)
    except ValueError as exc:
        raise _bad(f"content is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise _bad("content must be a JSON object")
    if msg_type == "text":
        if not isinstance(parsed.get("text"), str):
            raise _bad('text content must be {"text": "..."}')
        return parsed, None
    if msg_type == "post":
        _check_post(parsed)
        return parsed, None
    if msg_type == "interactive":
        return parsed, _check_interactive(parsed, cards)
    key = _KEY_TYPES[msg_type]
    if not isinstance(parsed.get(key), str) or not parsed[key]:
        raise _bad(f"{msg_type} content needs {key}")
    return parsed, None


def _check_post(parsed: dict) -> None:
    body = parsed.get("post", parsed)
    if not isinstance(body, dict) or not body:
        raise _bad("post content must be {locale: {title, content}}")
    for locale, value in body.items():
        if not isinstance(value, dict) or not isinstance(value.get("content", []), list):
            raise _bad(f"post locale {locale!r} must hold {{title, content: [[...]]}}")
        for para in value.get("content", []):
            if not isinstance(para, list) or not all(isinstance(n, dict) and "tag" in n for n in para):
                raise _bad("post content is a list of paragraphs, each a list of {tag: ...} nodes")


def _check_interactive(parsed: dict, cards: dict) -> str | None:
    kind = parsed.get("type")
    if kind == "card":
        data = parsed.get("data")
        cid = data.get("card_id") if isinstance(data, dict) else None
        if not isinstance(cid, str) or cid not in cards:
            raise _card_failed(f"card_id {cid!r} not found")
        return cid
    if kind == "template":
        data = parsed.get("data")
        if not isinstance(data, dict) or not data.get("template_id"):
            raise _card_failed("template card needs data.template_id")
        return None
    try:
        validate_card(parsed)
    except CardError as exc:
        raise _card_failed(str(exc)) from exc
    return None
