"""Identifier formats that look like Feishu's."""

from __future__ import annotations

import secrets
import string
import time

_B62 = string.ascii_letters + string.digits


def hex_id(n: int = 32) -> str:
    return secrets.token_hex(n // 2 + 1)[:n]


def b62(n: int) -> str:
    return "".join(secrets.choice(_B62) for _ in range(n))


def digits(n: int = 19) -> str:
    return str(secrets.choice(range(1, 10))) + "".join(secrets.choice(string.digits) for _ in range(n - 1))


def message_id() -> str:
    return "om_" + hex_id(32)


def chat_id() -> str:
    return "oc_" + hex_id(32)


def thread_id() -> str:
    return "omt_" + hex_id(14)


def event_id() -> str:
    return hex_id(32)


def card_id() -> str:
    return digits(19)


def document_id() -> str:
    return "doxcn" + b62(22)


def block_id() -> str:
    return "doxcn" + b62(22)


def wiki_node_token() -> str:
    return "wikcn" + b62(22)


def space_id() -> str:
    return digits(19)


def callback_token() -> str:
    return "c-" + hex_id(34)


def log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + hex_id(18).upper()


def now_ms() -> int:
    return int(time.time() * 1000)
