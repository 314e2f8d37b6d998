"""What every parser returns, and the shared text decoding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.chunking import Element
from sync.errors import ParseError
from sync.models import FaqEntry


@dataclass
class Parsed:
    """A file's content before chunking: structural elements (documents) or entries (FAQ tables)."""

    elements: list[Element] = field(default_factory=list)
    entries: list[FaqEntry] = field(default_factory=list)
    title: str = ""  # from the file's own metadata (<title>, docx core properties, PDF info); "" if none
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parser:
    extension: str  # ".md"
    source_type: str  # ParsedDocument.source_type
    parse: Callable[[Path], Parsed]
    faq: bool = False  # FAQ tables default to knowledge_type "faq"


def decode_text(data: bytes, filename: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (what Chinese Windows tools save)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8-sig", "gb18030"]
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            raise ParseError(filename, "looks like a binary file (NUL bytes), not text")
        return text.replace("\r\n", "\n").replace("\r", "\n")
    names = "is not valid UTF-16" if encodings == ["utf-16"] else "is neither UTF-8 nor GB18030"
    raise ParseError(filename, f"text {names}; save the file as UTF-8")


def read_text(path: Path) -> str:
    return decode_text(path.read_bytes(), path.name)
