"""Bounded JSON for bodies a stranger can send (the Feishu webhook, and the REST API above it).

Size and nesting depth are checked on the raw bytes before `json.loads` runs, so `[` × 100,000 is a 400 and not a
RecursionError; lone UTF-16 surrogates (`"\\ud800"`), which Redis and UTF-8 encoders refuse, become U+FFFD.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_DEPTH = 32

# A JSON string literal (possessive: linear time on any input) and the structural characters around strings.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonRejected(ValueError):
    """The body is not acceptable JSON; `status` is the HTTP answer (400 malformed or too deep, 413 too large)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def too_deep(raw: bytes, max_depth: int) -> bool:
    """Whether arrays/objects in `raw` nest deeper than `max_depth` (strings ignored; unbalanced input is left
    for the parser to reject). Each pass deletes the innermost empty pairs in C, so the cost is
    O(len × max_depth) at worst and one pass for ordinary bodies."""
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    too_many_opens = re.compile(rb"[\[{]{%d}" % (max_depth + 1))
    for _ in range(max_depth + 1):
        if not skeleton:
            return False
        if too_many_opens.search(skeleton):
            return True
        skeleton, removed = _EMPTY_PAIR.subn(b"", skeleton)
        if not removed:
            return False
    return bool(skeleton)


def without_lone_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_lone_surrogates(v) for v in value]
    return value


def loads_bounded(raw: bytes | str, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse `raw` or raise JsonRejected: larger than `max_bytes` (413), not UTF-8 JSON or nested deeper than
    `max_depth` (400). Strings come back free of lone surrogates."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise JsonRejected(413, f"JSON body larger than {max_bytes} bytes")
    if too_deep(data, max_depth):
        raise JsonRejected(400, f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise JsonRejected(400, f"malformed JSON ({_short(exc)})") from None
    except RecursionError:  # unreachable after the depth check; kept so no input can ever raise it
        raise JsonRejected(400, f"JSON nested deeper than {max_depth} levels") from None
    if _SURROGATE_ESCAPE.search(data):
        value = without_lone_surrogates(value)
    return value


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
