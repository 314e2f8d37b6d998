"""The event object every handler receives, whatever path (webhook, long connection, replay) it came by."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FeishuEvent:
    event_id: str
    event_type: str
    payload: dict[str, Any]
    # Filled by the queue: the stream entry id and how many times it has been attempted.
    entry_id: str = ""
    attempt: int = 1
    received_at_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def event(self) -> dict[str, Any]:
        body = self.payload.get("event")
        return body if isinstance(body, dict) else {}

    @property
    def ordering_key(self) -> str:
        """Events with the same key are processed one at a time, in arrival order (one chat's messages).

        Doc edits are not serialized: live sync debounces them itself and lets the newest one win."""
        ev = self.event
        message = ev.get("message")
        if isinstance(message, dict) and message.get("chat_id"):
            return f"chat:{message['chat_id']}"
        return f"event:{self.event_id}"

    @property
    def message_id(self) -> str:
        message = self.event.get("message")
        return str(message.get("message_id") or "") if isinstance(message, dict) else ""

    def dumps(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"))
