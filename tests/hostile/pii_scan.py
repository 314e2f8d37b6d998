"""Looking for personal numbers where they must not be: everything in Redis, log lines, REST views, cards and
LLM prompts. Shared by tests/hostile/test_privacy.py and benchmarks/hostile.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from observability.masking import find_personal_data

# What a conversation "full of personal numbers" says, in the forms customers type them.
PHONE = "13812345678"
PHONE_FULLWIDTH = "１３９１２３４５６７８"  # 13912345678
PHONE_SPACED = "+86 137 1234 5678"
ID_CARD = "11010519900307123X"
BANK_CARD = "6222021234567890123"
EMAIL = "zhang.san@example.com"
MESSAGES = [
    f"我的手机号是{PHONE}，转人工",
    f"备用电话{PHONE_FULLWIDTH}，身份证{ID_CARD}",
    f"退款打到卡号 {BANK_CARD}，或者联系 {PHONE_SPACED}",
    f"邮箱 {EMAIL}，订单20241102002",
]
# The raw values, as they look once width is folded and separators dropped.
PLANTED = ("13812345678", "13912345678", "13712345678", "11010519900307123X", "6222021234567890123",
           "zhang.san@example.com")

_FOLD = str.maketrans({**{cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}, 0x3000: " "})
_SEPARATORS = re.compile(r"[\s\-]")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def leaks(text: str, *, planted: Iterable[str] = PLANTED) -> list[str]:
    """The planted numbers found in `text`, in any width or spacing (JSON \\u escapes too)."""
    text = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)  # what was stored with ensure_ascii
    flat = _SEPARATORS.sub("", text.translate(_FOLD)).lower()
    return [p for p in planted if p.lower() in flat]


def lookalikes(text: str) -> list[str]:
    """Anything else the masking function would mask: a heuristic (a process id glued to a hex suffix can look
    like a mobile number), reported beside `leaks`, not instead of it."""
    return [f"{f.kind}:{text[f.start:f.end]}" for f in find_personal_data(text)]


async def redis_contents(redis: Any, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every key and what it holds, as text (strings, hashes, lists, sets, sorted sets, streams)."""
    out: dict[str, str] = {}
    async for raw_key in redis.scan_iter(count=1000):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        if any(s in key for s in skip):
            continue
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            value: Any = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = kind
        out[key] = json.dumps(value, ensure_ascii=False, default=lambda v: v.decode("utf-8", "replace")
                              if isinstance(v, bytes) else str(v))
    return out


async def redis_leaks(redis: Any, *, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found = {}
    for key, text in (await redis_contents(redis, skip=skip)).items():
        where = leaks(key + " " + text)
        if where:
            found[key] = where
    return found
