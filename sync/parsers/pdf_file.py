"""PDF via pypdf: text page by page; wrapped lines re-joined into paragraphs. No OCR: a scanned PDF is an error."""

from __future__ import annotations

import re
from pathlib import Path

from sync.chunking import Element, paragraph
from sync.errors import ParseError
from sync.parsers.base import Parsed, Parser
from sync.parsers.text_utils import join_lines

_ENDS_PARAGRAPH = re.compile(r"[。！？!?.:：;；]\s*[”’」』）)]?$")
_STARTS_ITEM = re.compile(
    r"^\s*(?:[•●▪◦·\-–*]|\d{1,3}[.)、]|[（(][一二三四五六七八九十\d]{1,3}[)）]|[一二三四五六七八九十]{1,3}、)\s*"
)


def page_paragraphs(text: str) -> list[str]:
    """pypdf gives one line per visual line; a paragraph ends at a blank line or a line ending a sentence."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        if not line.strip():
            if current:
                paragraphs.append(join_lines(current))
                current = []
            continue
        if current and _STARTS_ITEM.match(line):
            paragraphs.append(join_lines(current))
            current = []
        current.append(line)
        if _ENDS_PARAGRAPH.search(line):
            paragraphs.append(join_lines(current))
            current = []
    if current:
        paragraphs.append(join_lines(current))
    return [p for p in paragraphs if p]


def parse_pdf(path: Path) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PdfReadError, PyPdfError

    name = path.name
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")  # owner-password-only PDFs open with an empty user password
            except (DependencyError, NotImplementedError) as exc:
                raise ParseError(name, f"PDF is encrypted with an unsupported scheme ({exc})") from exc
            if not unlocked:
                raise ParseError(name, "PDF is password-protected; upload an unprotected copy")
        pages = list(reader.pages)
        texts = [page.extract_text() or "" for page in pages]
        title = ""
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title).strip()
    except ParseError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise ParseError(name, f"broken PDF ({type(exc).__name__}: {exc})") from exc
    if not pages:
        raise ParseError(name, "PDF has no pages")
    elements: list[Element] = []
    for number, text in enumerate(texts, start=1):
        elements.extend(paragraph(p, page=number) for p in page_paragraphs(text))
    if not elements:
        raise ParseError(name, f"PDF has no extractable text in {len(pages)} page(s) (scanned images? OCR is not "
                               "supported)")
    return Parsed(elements=elements, title=title, metadata={"pages": len(pages)})


PARSER = Parser(".pdf", "pdf", parse_pdf)
