"""Structure-aware chunking: parsed elements (headings, paragraphs, list items, tables, code) → Chunks.

Rules: every chunk carries the heading path above it; chunks grow up to `max_chars`; a table is never cut
mid-row (a table over the limit is split between rows, each part repeating the header row); a list item is
never cut unless it alone is over the limit; a paragraph is split at sentence ends only when it alone is over
the limit. Text with no sentence end at all is cut hard as a last resort (embedders have input limits).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from sync.faq import faq_chunk, faq_chunks
from sync.models import Chunk

__all__ = ["DEFAULT_MAX_CHARS", "Element", "chunk_elements", "faq_chunk", "faq_chunks", "split_long_text"]

DEFAULT_MAX_CHARS = 500

ELEMENT_KINDS = ("heading", "paragraph", "list_item", "table", "code")

# Split after a sentence end, keeping closing quotes/brackets with their sentence. An ASCII "." only ends a
# sentence before whitespace, so "3.5" and "example.com" stay whole.
_SENTENCE_END = re.compile(r"(?:[。！？!?]+|\.(?=\s)|\.$)[”’」』）)\]\"']*\s*")


@dataclass(frozen=True)
class Element:
    """One structural piece of a parsed file, in document order."""

    kind: str  # one of ELEMENT_KINDS
    text: str = ""
    level: int = 0  # heading level (1 = top); list nesting depth (0 = top)
    rows: tuple[tuple[str, ...], ...] = ()  # tables only; the first row is the header
    page: int = 0  # 1-based PDF page, 0 when the format has no pages

    def __post_init__(self) -> None:
        if self.kind not in ELEMENT_KINDS:
            raise ValueError(f"unknown element kind {self.kind!r}")


def heading(text: str, level: int) -> Element:
    return Element("heading", text.strip(), level=max(1, level))


def paragraph(text: str, page: int = 0) -> Element:
    return Element("paragraph", text.strip(), page=page)


def list_item(text: str, level: int = 0, marker: str = "-") -> Element:
    """`marker` is "-" for bullets or "3." for ordered items; nesting shows as indentation."""
    return Element("list_item", f"{'  ' * level}{marker} {text.strip()}", level=level)


def table(rows: Iterable[Iterable[str]], page: int = 0) -> Element:
    clean = tuple(tuple(" ".join(c.split()) for c in row) for row in rows)
    clean = tuple(row for row in clean if any(row))
    return Element("table", rows=clean, page=page)


def code(text: str) -> Element:
    return Element("code", text.rstrip("\n"))


def table_row_text(row: Iterable[str]) -> str:
    return " | ".join(row)


def split_sentences(text: str) -> list[str]:
    """Pieces that concatenate back to `text` exactly, each ending at a sentence end (the last may not)."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def split_long_text(text: str, max_chars: int) -> list[str]:
    """Split a too-long paragraph at sentence ends, packing whole sentences up to `max_chars`."""
    if len(text.strip()) <= max_chars:
        return [text.rstrip()] if text.strip() else []  # leading spaces are a nested list item's indent
    text = text.strip()
    parts: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        for piece in _hard_cut(sentence, max_chars):
            if current and len(current) + len(piece) > max_chars:
                parts.append(current.strip())
                current = ""
            current += piece
    if current.strip():
        parts.append(current.strip())
    return [p for p in parts if p]


def _hard_cut(text: str, max_chars: int) -> Iterator[str]:
    """Last resort for a sentence over the limit: cut at whitespace near the limit, else at the limit."""
    while len(text) > max_chars:
        cut = text.rfind(" ", int(max_chars * 0.8), max_chars)
        cut = cut + 1 if cut > 0 else max_chars
        yield text[:cut]
        text = text[cut:]
    if text:
        yield text


class _Packer:
    """Accumulates pieces into chunks under one heading path."""

    def __init__(self, source_id: str, title: str, knowledge_type: str, max_chars: int) -> None:
        self.source_id = source_id
        self.title = title
        self.knowledge_type = knowledge_type
        self.max_chars = max_chars
        self.headings: tuple[str, ...] = ()
        self.chunks: list[Chunk] = []
        self._text = ""
        self._pages: set[int] = set()

    def add(self, piece: str, sep: str = "\n", page: int = 0) -> None:
        if self._text and len(self._text) + len(sep) + len(piece) > self.max_chars:
            self.flush()
        self._text = f"{self._text}{sep}{piece}" if self._text else piece
        if page:
            self._pages.add(page)

    def add_table(self, rows: tuple[tuple[str, ...], ...], page: int = 0) -> None:
        lines = [table_row_text(r) for r in rows]
        whole = "\n".join(lines)
        if len(whole) <= self.max_chars:
            self.add(whole, page=page)  # the packer keeps it whole: it flushes first if it does not fit
            return
        self.flush()
        header, body = lines[0], lines[1:]
        part = [header]
        for line in body:
            if len(part) > 1 and len("\n".join([*part, line])) > self.max_chars:
                self.add("\n".join(part), page=page)
                self.flush()
                part = [header]
            part.append(line)
        self.add("\n".join(part), page=page)

    def flush(self) -> None:
        text = self._text.strip()
        if text:
            metadata = {"pages": sorted(self._pages)} if self._pages else {}
            self.chunks.append(
                Chunk(source_id=self.source_id, text=text, knowledge_type=self.knowledge_type,
                      headings=self.headings, title=self.title, position=len(self.chunks), metadata=metadata)
            )
        self._text = ""
        self._pages = set()


def chunk_elements(
    elements: Iterable[Element],
    *,
    source_id: str,
    title: str = "",
    knowledge_type: str = "doc",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[Chunk]:
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    packer = _Packer(source_id, title, knowledge_type, max_chars)
    stack: list[tuple[int, str]] = []
    for el in elements:
        if el.kind == "heading":
            if not el.text:
                continue
            packer.flush()
            stack = [(lvl, txt) for lvl, txt in stack if lvl < el.level]
            stack.append((el.level, el.text))
            packer.headings = tuple(txt for _, txt in stack)
        elif el.kind == "table":
            if el.rows:
                packer.add_table(el.rows, page=el.page)
        elif el.kind == "code":
            for part in _code_parts(el.text, max_chars):
                packer.add(part, page=el.page)
        else:
            parts = split_long_text(el.text, max_chars)
            for i, part in enumerate(parts):
                # Pieces of one paragraph join without a newline: they were one paragraph.
                sep = "\n" if i == 0 else ("" if not parts[i - 1][-1].isascii() else " ")
                packer.add(part, sep=sep, page=el.page)
    packer.flush()
    return dedupe(packer.chunks)


def _code_parts(text: str, max_chars: int) -> Iterator[str]:
    """Code splits between lines, never inside one (unless a single line is over the limit)."""
    current = ""
    for line in text.splitlines():
        for piece in _hard_cut(line, max_chars):
            if current and len(current) + 1 + len(piece) > max_chars:
                yield current
                current = ""
            current = f"{current}\n{piece}" if current else piece
    if current.strip():
        yield current


def dedupe(chunks: list[Chunk]) -> list[Chunk]:
    """Drop repeats of an identical chunk (same id) and renumber positions: one id must mean one row."""
    seen: set[str] = set()
    out: list[Chunk] = []
    for chunk in chunks:
        if chunk.id in seen:
            continue
        seen.add(chunk.id)
        out.append(chunk if chunk.position == len(out) else replace(chunk, position=len(out)))
    return out
