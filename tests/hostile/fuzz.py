"""Seeded hostile request bodies for the webhook and the REST API: random bytes, nesting bombs, truncated and
type-mutated JSON, lone surrogates, garbage multipart, and signed Feishu envelopes whose events carry the wrong
types. The same seed gives the same requests (CI and benchmarks/hostile.py replay them exactly)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.signing import envelope, signed_request, text_message_event

SESSION = "{session}"  # replaced by a real session id by the runner


@dataclass
class FuzzRequest:
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = ""


REST_POSTS = ["/api/v1/chat", "/api/v1/chat/stream", f"/api/v1/agent/sessions/{SESSION}/accept",
              f"/api/v1/agent/sessions/{SESSION}/messages", f"/api/v1/agent/sessions/{SESSION}/resolve",
              f"/api/v1/agent/sessions/{SESSION}/knowledge-recommend",
              f"/api/v1/agent/sessions/{SESSION}/business-assist", f"/api/v1/agent/sessions/{SESSION}/solution",
              "/api/v1/knowledge/documents/file:faq.jsonl/rollback"]
REST_KEYS = ["message", "session_id", "user_id", "channel", "agent_id", "agent_name", "content", "note", "query",
             "top_k", "question", "solution", "intent", "version"]
NASTY_STRINGS = ["", " ", "\\ud800", "\ufffd", "😀", "𠀀" * 50, "<script>", "' OR 1=1 --", "%s%s%n", "\x00", "a" * 5000,
                 "１３８１２３４５６７８", "../../etc/passwd", "转人工", "NaN", "{}", "[]", "\u202e", "\r\n\r\n"]
EVENT_TYPES = ["im.message.receive_v1", "card.action.trigger", "drive.file.edit_v1", "application.bot.menu_v6",
               "im.chat.access_event.bot_p2p_chat_entered_v1", "larkdesk.card_ask_v1", "larkdesk.desk_followup_v1",
               "unknown.event_v9"]


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.35:
        return rng.choice([None, True, False, 0, -1, 2**63, 1e308, 3.5, rng.choice(NASTY_STRINGS),
                           "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(0, 20)))])
    if roll < 0.65:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {rng.choice([*REST_KEYS, "x", "", "\\ud800"]): _value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def _mutate(rng: random.Random, value: Any) -> Any:
    """One random change somewhere in `value`: a type swap, a removal, a nasty string, a nesting."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        out = dict(value)
        action = rng.random()
        if action < 0.2:
            out.pop(key)
        elif action < 0.6:
            out[key] = _mutate(rng, out[key])
        else:
            out[key] = _value(rng)
        return out
    if isinstance(value, list) and value and rng.random() < 0.7:
        out = list(value)
        i = rng.randrange(len(out))
        out[i] = _mutate(rng, out[i])
        return out
    return _value(rng)


def _dumps(value: Any) -> bytes:
    # Lone surrogates written as JSON escapes, the way a hostile client sends them.
    return json.dumps(value, ensure_ascii=True).replace("\\\\ud800", "\\ud800").encode()


def _garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    if kind == 1:
        return rng.choice(["[", "{\"a\":", "[{", "{\"\":["]).encode() * rng.randrange(1, 3000)
    if kind == 2:
        text = _dumps(_value(rng))
        return text[: rng.randrange(0, len(text) + 1)]
    if kind == 3:
        return b"\xef\xbb\xbf" + _dumps(_value(rng))  # a BOM
    if kind == 4:
        return rng.choice([b"null", b"true", b"1e999999", b"-", b'"\\ud800"', b"\"\\u", b"{}", b"[]", b""])
    return _dumps(_value(rng))


def _base_event(rng: random.Random, event_type: str) -> dict[str, Any]:
    if event_type == "im.message.receive_v1":
        return text_message_event(rng.choice(["你好", "转人工", "怎么退货", "１３８１２３４５６７８"]))
    if event_type == "card.action.trigger":
        return {"operator": {"open_id": "ou_fuzz"}, "action": {"value": {"action": rng.choice(
            ["claim", "resolve", "csat", "ask", "reveal_phone", "nope"]), "session": "s_fuzz", "score": 3}},
            "context": {"open_message_id": "om_fuzz", "open_chat_id": "oc_fuzz"}}
    if event_type.startswith("drive."):
        return {"file_token": "doxcnFuzz", "file_type": "docx"}
    return {"event_key": "contact_human", "operator": {"operator_id": {"open_id": "ou_fuzz"}}, "chat_id": "oc_fuzz"}


def _signed(rng: random.Random) -> FuzzRequest:
    event_type = rng.choice(EVENT_TYPES)
    event = _base_event(rng, event_type)
    for _ in range(rng.randrange(0, 3)):
        event = _mutate(rng, event)
    event_id = rng.choice([uuid.UUID(int=rng.getrandbits(128)).hex, "", "ev-\ud800", "x" * 300])
    payload = envelope(event_type, event, event_id=event_id or None)
    if rng.random() < 0.1:
        payload = _mutate(rng, payload)
    body, headers = signed_request(payload, tamper=rng.random() < 0.05)
    return FuzzRequest("POST", "/feishu/events", body, headers, "signed")


def _rest_body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.5:
        return _garbage(rng)
    valid = {"message": rng.choice(["怎么退货", "转人工", "１３８１２３４５６７８", "hi"]), "agent_id": "a_fuzz",
             "content": "您好", "note": "ok", "query": "退货", "top_k": 3, "question": "q", "solution": "s",
             "version": 1}
    keys = rng.sample(list(valid), rng.randrange(1, 4))
    body = {k: valid[k] for k in keys}
    for _ in range(rng.randrange(0, 3)):
        body = _mutate(rng, body)
    return _dumps(body)


def requests(seed: int, count: int, *, chat_valid_share: float = 0.02) -> Iterator[FuzzRequest]:
    """`count` requests: about 40 % to the webhook (half of them signed), 1 % garbage uploads, the rest to the
    REST JSON routes.

    Bodies that would run a whole conversation turn are kept to `chat_valid_share`, and uploads to 1 % (a turn
    costs a query embedding, an upload a parse process: the fuzz is about hostile input, not throughput)."""
    rng = random.Random(seed)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.2:
            yield FuzzRequest("POST", "/feishu/events", _garbage(rng), {"Content-Type": "application/json"}, "unsigned")
        elif roll < 0.4:
            yield _signed(rng)
        elif roll < 0.41:
            boundary = "fuzz" + str(rng.randrange(1000))
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{rng.choice(['file', 'x', ''])}\"; "
                    f"filename=\"{rng.choice(['a.md', '', '../x.pdf', 'b.docx'])}\"\r\n\r\n").encode()
            body += _garbage(rng) + (f"\r\n--{boundary}--\r\n".encode() if rng.random() < 0.5 else b"")
            yield FuzzRequest("POST", "/api/v1/knowledge/ingest", body,
                              {"Content-Type": f"multipart/form-data; boundary={boundary}"}, "multipart")
        else:
            path = rng.choice(REST_POSTS)
            body = _rest_body(rng)
            if path.startswith("/api/v1/chat") and b'"message"' in body and rng.random() > chat_valid_share:
                body = body.replace(b'"message"', b'"messages"')  # keep full turns rare
            yield FuzzRequest("POST", path, body, {"Content-Type": "application/json"}, "rest")
