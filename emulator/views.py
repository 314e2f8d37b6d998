"""How stored objects look: in Open API answers and in the control API."""

from __future__ import annotations

import json
from typing import Any

from emulator import cards
from emulator.state import EmulatorState, Message


def api_message(state: EmulatorState, msg: Message, tenant_key: str) -> dict:
    out: dict[str, Any] = {"message_id": msg.message_id}
    for key in ("root_id", "parent_id", "thread_id"):
        if getattr(msg, key):
            out[key] = getattr(msg, key)
    out.update(
        {
            "msg_type": msg.msg_type,
            "create_time": str(msg.create_time),
            "update_time": str(msg.update_time),
            "deleted": msg.deleted,
            "updated": msg.updated,
            "chat_id": msg.chat_id,
            "sender": {
                "id": msg.sender_id,
                "id_type": "app_id" if msg.sender_type == "app" else "open_id",
                "sender_type": msg.sender_type,
                "tenant_key": tenant_key,
            },
            "body": {"content": state.message_content(msg)},
        }
    )
    if msg.mentions:
        out["mentions"] = [
            {
                "key": m["key"],
                "id": m["id"].get("open_id", ""),
                "id_type": "open_id",
                "name": m.get("name", ""),
                "tenant_key": tenant_key,
            }
            for m in msg.mentions
        ]
    return out


def plain_text(msg_type: str, content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    if msg_type == "text":
        return str(content.get("text", ""))
    if msg_type == "post":
        body = content.get("post", content)
        parts = []
        for value in body.values() if isinstance(body, dict) else []:
            if isinstance(value, dict):
                if value.get("title"):
                    parts.append(str(value["title"]))
                for para in value.get("content", []):
                    parts.append("".join(str(n.get("text", "")) for n in para if isinstance(n, dict)))
        return "\n".join(parts)
    if msg_type == "interactive":
        return cards.text_of(content)
    return ""


def control_message(state: EmulatorState, msg: Message) -> dict:
    raw = state.message_content(msg)
    try:
        content = json.loads(raw)
    except ValueError:
        content = raw
    return {
        "message_id": msg.message_id,
        "chat_id": msg.chat_id,
        "sender": {
            "type": msg.sender_type,
            "id": msg.sender_id,
            "open_id": msg.sender_id if msg.sender_type == "user" else None,
        },
        "msg_type": msg.msg_type,
        "content": content,
        "text": plain_text(msg.msg_type, content),
        "root_id": msg.root_id,
        "parent_id": msg.parent_id,
        "thread_id": msg.thread_id,
        "create_time": msg.create_time,
        "update_time": msg.update_time,
        "uuid": msg.uuid,
        "card_id": msg.card_id,
        "updated": msg.updated,
        "mentions": msg.mentions,
    }
