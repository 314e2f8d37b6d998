"""The one masking function for personal data: applied wherever text is stored or leaves the process (session
history and summaries, agent views, cards and threads, logs, traces, LLM prompts, Langfuse).

Recognized, in any mix of half- and full-width characters (`１３８１２３４５６７８`, `＋８６`), with spaces or dashes
between digits: mainland mobile numbers (with `+86` / `0086` / `(86)`), 18-digit ID numbers (checksum
digit or `X`) and old 15-digit ones (both with a plausible birth date), bank cards (16-19 digits: written in groups
of four, Luhn-valid, or a UnionPay `62` prefix), e-mail addresses, and the configured SENSITIVE_WORDS.

Matching runs on a width-folded copy of the text that has exactly one character per original character, so a
match's span is the span to replace in the original and everything else stays as the customer wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Full-width ASCII (U+FF01-U+FF5E) → ASCII, ideographic and no-break spaces → space, dash variants → "-".
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FOLD.update({0x3000: " ", 0x00A0: " ", 0x2007: " ", 0x202F: " "})
_FOLD.update({cp: "-" for cp in (0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0xFE58, 0xFE63)})
_FOLD_TABLE = str.maketrans(_FOLD)
# Cheap pre-check on the raw text: nothing to find without a digit or an at-sign of either width.
_MAYBE = re.compile(r"[0-9０-９@＠]")

_SEP = r"[ \-]?"  # one optional separator between digits (not ".": decimals and timestamps are not phones)
# Every number kind is at least 11 digits long: text without such a run (or an at-sign) needs no other pattern.
_CANDIDATE = re.compile(rf"@|\d(?:{_SEP}\d){{10}}")
_EDGE_BEFORE = r"(?<![0-9A-Za-z])"
_EDGE_AFTER = r"(?![0-9A-Za-z])"
_BIRTH = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])([A-Za-z0-9][A-Za-z0-9._%+\-]*)@"
                    r"((?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,})(?![A-Za-z])")
_ID18 = re.compile(_EDGE_BEFORE + rf"[1-9]\d{{5}}{_SEP}(?:18|19|20)\d{{2}}{_BIRTH}{_SEP}\d{{3}}[\dXx]" + _EDGE_AFTER)
_ID15 = re.compile(_EDGE_BEFORE + rf"[1-9]\d{{5}}\d{{2}}{_BIRTH}\d{{3}}" + _EDGE_AFTER)
_BANK_GROUPED = re.compile(_EDGE_BEFORE + r"\d{4}(?:[ \-]\d{4}){3}(?:[ \-]\d{1,3})?" + _EDGE_AFTER)
_BANK_PLAIN = re.compile(_EDGE_BEFORE + r"\d{16,19}" + _EDGE_AFTER)
_PHONE = re.compile(_EDGE_BEFORE + r"(?P<prefix>(?:\+|00)?86[ \-]?|\(\+?86\)[ \-]?)?"
                    + rf"(?P<number>1[3-9]\d(?:{_SEP}\d){{8}})" + _EDGE_AFTER)


@dataclass(frozen=True)
class Finding:
    """One piece of personal data: its kind, where it is in the text, and what replaces it."""

    kind: str  # "email" | "id_card" | "bank_card" | "phone"
    start: int
    end: int
    replacement: str


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit() or c in "Xx")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _email(m: re.Match[str]) -> str | None:
    return f"{m.group(1)[0]}***@{m.group(2)}"


def _id_card(m: re.Match[str]) -> str | None:
    digits = _digits(m.group(0))
    return digits[:6] + "*" * (len(digits) - 6)


def _bank_grouped(m: re.Match[str]) -> str | None:
    return _bank(_digits(m.group(0)))


def _bank_plain(m: re.Match[str]) -> str | None:
    digits = m.group(0)
    # A long number that is neither Luhn-valid nor UnionPay-prefixed is more likely an order or tracking number.
    return _bank(digits) if luhn_valid(digits) or digits.startswith("62") else None


def _bank(digits: str) -> str:
    return f"{digits[:4]} **** **** {digits[16:] if len(digits) > 16 else digits[12:]}"


def _phone(m: re.Match[str]) -> str | None:
    digits = _digits(m.group("number"))
    prefix = m.group("prefix") or ""
    return f"{prefix}{digits[:3]}****{digits[-4:]}"


# Most specific first: a span taken by one kind is never matched again by a later one.
_DETECTORS = (("email", _EMAIL, _email), ("id_card", _ID18, _id_card), ("id_card", _ID15, _id_card),
              ("bank_card", _BANK_GROUPED, _bank_grouped), ("bank_card", _BANK_PLAIN, _bank_plain),
              ("phone", _PHONE, _phone))


def find_personal_data(text: str) -> list[Finding]:
    """Every phone, ID, bank-card number and e-mail address in `text`, in order, spans in `text` itself."""
    if not text or not _MAYBE.search(text):
        return []
    folded = text.translate(_FOLD_TABLE)
    assert len(folded) == len(text)  # one character for one: spans stay valid in the original
    if not _CANDIDATE.search(folded):
        return []
    found: list[Finding] = []
    for kind, pattern, replace in _DETECTORS:
        for m in pattern.finditer(folded):
            replacement = replace(m)
            if replacement is None:
                continue
            start, end = m.span()
            found.append(Finding(kind, start, end, replacement))
            # Blank the span so later (less specific) patterns cannot match inside or across it.
            folded = folded[:start] + "#" * (end - start) + folded[end:]
    return sorted(found, key=lambda f: f.start)


_configured_words: tuple[str, ...] = ()


def configure_sensitive_words(words: Iterable[str]) -> None:
    """Extra words (names, project codes...) masked everywhere text leaves the process (SENSITIVE_WORDS)."""
    global _configured_words
    _configured_words = tuple(sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True))


def mask_text(text: str, extra_words: Iterable[str] | None = None) -> str:
    """`text` with personal data (see the module doc) and sensitive words masked; idempotent."""
    if not text:
        return text
    findings = find_personal_data(text)
    if findings:
        parts, last = [], 0
        for f in findings:
            parts += [text[last:f.start], f.replacement]
            last = f.end
        parts.append(text[last:])
        text = "".join(parts)
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


def phone_numbers(text: str) -> list[str]:
    """The mobile numbers in `text`, as 11 plain digits (what an agent may reveal on demand)."""
    if not text or not _MAYBE.search(text):
        return []
    return [_digits(m.group("number")) for m in _PHONE.finditer(text.translate(_FOLD_TABLE))]
