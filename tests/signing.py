"""Builds Feishu-style signed, encrypted callback requests for ingress tests (crypto from the emulator)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from emulator import crypto

TOKEN = "test-verification-token"
ENCRYPT_KEY = "test-encrypt-key"


def envelope(event_type: str, event: dict[str, Any], event_id: str | None = None,
             token: str = TOKEN) -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {"event_id": event_id or uuid.uuid4().hex, "event_type": event_type,
                   "create_time": str(int(time.time() * 1000)), "token": token, "app_id": "cli_test",
                   "tenant_key": "tk"},
        "event": event,
    }


def text_message_event(text: str, message_id: str | None = None, chat_type: str = "p2p",
                       chat_id: str = "oc_chat", mentions: list[dict] | None = None) -> dict[str, Any]:
    return {
        "sender": {"sender_id": {"open_id": "ou_user"}, "sender_type": "user", "tenant_key": "tk"},
        "message": {"message_id": message_id or f"om_{uuid.uuid4().hex}", "chat_id": chat_id,
                    "chat_type": chat_type, "message_type": "text", "create_time": str(int(time.time() * 1000)),
                    "content": json.dumps({"text": text}), "mentions": mentions or []},
    }


def signed_request(payload: dict[str, Any], *, encrypt_key: str = ENCRYPT_KEY, timestamp: int | None = None,
                   tamper: bool = False) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"encrypt": crypto.encrypt(json.dumps(payload), encrypt_key)}).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = uuid.uuid4().hex[:16]
    sig = crypto.signature(ts, nonce, encrypt_key, body)
    if tamper:
        sig = ("0" if sig[0] != "0" else "1") + sig[1:]
    headers = {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce, "X-Lark-Signature": sig,
               "Content-Type": "application/json"}
    return body, headers
