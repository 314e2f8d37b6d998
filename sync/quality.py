"""Quality gate: refuse a parsed source that is empty, nearly empty or garbled before it reaches the index.

A parser can succeed and still produce junk: a scanned PDF with a stray text layer, a GBK file read as
Latin-1, a binary renamed .txt. Indexing junk makes the bot quote junk, so the sync refuses it with a reason
an admin can act on.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sync.models import ParsedDocument

MIN_MEANINGFUL_CHARS = 20
MAX_REPLACEMENT_RATIO = 0.02  # U+FFFD: bytes that failed to decode
MAX_CONTROL_RATIO = 0.02
MAX_MOJIBAKE_RATIO = 0.02  # UTF-8 read as Latin-1/cp1252: "Ã©", "â€™", "Ã¤"
MIN_READABLE_RATIO = 0.5  # CJK + kana + Hangul + ASCII letters/digits among the non-punctuation characters
MAX_OPAQUE_RATIO = 0.5  # share of the text in long tokens that are encoded data, not words (base64, hex, keys)
MIN_OPAQUE_TOKEN = 16

# A run of base64/hex/URL-safe characters with no space: a word, a number, or encoded data.
_TOKEN = re.compile(rf"[A-Za-z0-9+/=_\-]{{{MIN_OPAQUE_TOKEN},}}")
_WORDLIKE = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")

# A UTF-8 lead byte (0xC2–0xF4) shown as Latin-1/cp1252, followed by a continuation byte (0x80–0xBF) shown the
# same way: the signature of text decoded with the wrong codec.
_MOJIBAKE = re.compile(
    "[ÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóô][\u0080-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]"
)


@dataclass(frozen=True)
class QualityReport:
    ok: bool
    reason: str = ""
    stats: dict[str, Any] = field(default_factory=dict, compare=False)


def _readable(ch: str) -> bool:
    if ch.isascii():
        return ch.isalnum()
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x2FFFF  # extensions B+
        or 0x3040 <= code <= 0x30FF  # kana
        or 0xAC00 <= code <= 0xD7AF  # Hangul
        or (0xFF10 <= code <= 0xFF5A and ch.isalnum())  # full-width letters and digits
    )


def _is_punct_or_symbol(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSZ"


def _opaque(token: str) -> bool:
    """Encoded data rather than language: mixes digits with letters, or upper with lower case mid-token,
    the way base64, hex digests and keys do (order numbers are digits only; words are letters only)."""
    if token.isdigit() or _WORDLIKE.fullmatch(token):
        return False
    has_digit = any(c.isdigit() for c in token)
    has_upper = any(c.isupper() for c in token[1:])
    has_lower = any(c.islower() for c in token)
    return (has_digit and (has_upper or has_lower)) or (has_upper and has_lower) or any(c in "+/=" for c in token)


def text_stats(text: str) -> dict[str, int]:
    visible = [ch for ch in text if not ch.isspace()]
    body = [ch for ch in visible if not _is_punct_or_symbol(ch)]  # table pipes and bullets do not count
    return {
        "chars": len(visible),
        "meaningful": sum(1 for ch in visible if ch.isalnum()),
        "readable": sum(1 for ch in body if _readable(ch)),
        "body": len(body),
        "replacement": text.count("\ufffd"),
        "control": sum(1 for ch in text if unicodedata.category(ch) in ("Cc", "Co", "Cs") and ch not in "\n\r\t"),
        "mojibake": len(_MOJIBAKE.findall(text)),
        "opaque": sum(len(tok) for tok in _TOKEN.findall(text) if _opaque(tok)),
    }


def validate_text(text: str, min_chars: int = MIN_MEANINGFUL_CHARS) -> QualityReport:
    stats = text_stats(text)
    if stats["chars"] == 0:
        return QualityReport(False, "empty: no text was extracted", stats)
    if stats["replacement"] / stats["chars"] > MAX_REPLACEMENT_RATIO:
        share = stats["replacement"] / stats["chars"]
        return QualityReport(False, f"garbled: {share:.0%} of the characters failed to decode (U+FFFD); "
                                    "check the file's encoding", stats)
    # Before the control check: UTF-8 read as Latin-1 also yields C1 control characters.
    if stats["mojibake"] * 2 / stats["chars"] > MAX_MOJIBAKE_RATIO:
        return QualityReport(False, "garbled: the text looks decoded with the wrong encoding (sequences like "
                                    f"'Ã©' appear {stats['mojibake']} times); save the file as UTF-8", stats)
    if stats["control"] / stats["chars"] > MAX_CONTROL_RATIO:
        return QualityReport(False, f"garbled: {stats['control']} control characters; is it a binary file?", stats)
    if stats["meaningful"] < min_chars:
        return QualityReport(False, f"near-empty: only {stats['meaningful']} letters or digits (at least "
                                    f"{min_chars} needed)", stats)
    if stats["opaque"] / stats["chars"] > MAX_OPAQUE_RATIO:
        share = stats["opaque"] / stats["chars"]
        return QualityReport(False, f"not language: {share:.0%} of the text is encoded data (base64, hex or keys "
                                    "without spaces); index the decoded document instead", stats)
    if stats["body"] and stats["readable"] / stats["body"] < MIN_READABLE_RATIO:
        share = stats["readable"] / stats["body"]
        return QualityReport(False, f"garbled: only {share:.0%} of the characters are Chinese, Japanese, Korean or "
                                    "ASCII letters and digits", stats)
    return QualityReport(True, "", stats)


def validate_quality(doc: ParsedDocument, min_chars: int = MIN_MEANINGFUL_CHARS) -> QualityReport:
    if not doc.chunks:
        return QualityReport(False, f"empty: {doc.title or doc.source_id} has no content to index")
    return validate_text("\n".join(c.text for c in doc.chunks), min_chars=min_chars)
