"""Masks phone numbers and ID-card numbers wherever text leaves the process (logs, prompts, traces)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Mainland ID card: 17 digits + digit/X, with a plausible birth date; phone: mainland mobile, optional +86.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<![0-9A-Za-z])((?:\+?86[- ]?)?1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?![0-9A-Za-z])")
# Bank cards: 16-19 digits, optionally grouped by 4. Letters around a digit run mean an id (hex), not a number.
_BANK_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{4})(?:[ -]?\d{4}){2,3}[ -]?(\d{1,4})(?![0-9A-Za-z])")


_configured_words: tuple[str, ...] = ()


def configure_sensitive_words(words: Iterable[str]) -> None:
    """Extra words (names, project codes...) masked everywhere text leaves the process (SENSITIVE_WORDS)."""
    global _configured_words
    _configured_words = tuple(sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True))


def mask_text(text: str, extra_words: Iterable[str] | None = None) -> str:
    """Return `text` with ID cards, phones, bank cards and sensitive words masked."""
    if not text:
        return text
    text = _ID_CARD.sub(lambda m: m.group(1) + "*" * 12, text)
    text = _PHONE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    text = _BANK_CARD.sub(lambda m: m.group(1) + " **** **** " + m.group(2)[-4:], text)
    for word in _configured_words if extra_words is None else extra_words:
        if word:
            text = text.replace(word, "*" * len(word))
    return text


def mask_value(value: object) -> object:
    """Mask strings inside nested dicts/lists/tuples; other values pass through."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask_value(v) for v in value)
    return value
