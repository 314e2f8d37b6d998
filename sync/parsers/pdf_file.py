"""PDF via pypdf: text page by page; wrapped lines re-joined into paragraphs. No OCR: a scanned PDF is an error."""

from __future__ import annotations

import re
from pathlib import Path

from sync.chunking import Element, paragraph
from sync.errors import ParseError
from sync.limits import CharBudget, IngestLimits, LimitExceeded, current_limits
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


def _bound_streams(limits: IngestLimits) -> None:
    """pypdf's own decompression limits, set to ours for this parse (a 72 KB file may hold a 70 MB stream)."""
    import pypdf

    cap = limits.pdf_max_stream_bytes
    names = ("zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
             "array_based_stream_maximum_output_length", "jbig2_maximum_output_length",
             "brotli_maximum_output_length", "maximum_declared_stream_length", "image_maximum_buffer_size")
    overwrite = getattr(pypdf, "overwrite_configuration", None)
    if overwrite is not None:
        known = set(getattr(pypdf.Configuration, "__dataclass_fields__", {}))
        wanted = {n: cap for n in names} | {"stream_decoding_work_maximum_length": 4 * cap}
        overwrite(**{n: v for n, v in wanted.items() if n in known})
        return
    from pypdf import filters  # pypdf < 6: module constants

    for constant in ("ZLIB_MAX_OUTPUT_LENGTH", "LZW_MAX_OUTPUT_LENGTH", "RUN_LENGTH_MAX_OUTPUT_LENGTH",
                     "MAX_DECLARED_STREAM_LENGTH", "MAX_ARRAY_BASED_STREAM_OUTPUT_LENGTH"):
        if hasattr(filters, constant):
            setattr(filters, constant, cap)


def _declared_pages(reader) -> int | None:
    """/Count of the page tree: read before the tree is flattened (100,000 pages cost 900 MB to flatten)."""
    try:
        return int(reader.trailer["/Root"]["/Pages"]["/Count"])
    except Exception:
        return None


def parse_pdf(path: Path) -> Parsed:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, LimitReachedError, PdfReadError, PyPdfError

    name = path.name
    limits = current_limits()
    _bound_streams(limits)
    budget = CharBudget(name, limits)

    def too_many(pages: int) -> LimitExceeded:
        return LimitExceeded(name, "INGEST_PDF_MAX_PAGES", "number of pages", limits.pdf_max_pages, pages)

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")  # owner-password-only PDFs open with an empty user password
            except (DependencyError, NotImplementedError) as exc:
                raise ParseError(name, f"PDF is encrypted with an unsupported scheme ({exc})") from exc
            if not unlocked:
                raise ParseError(name, "PDF is password-protected; upload an unprotected copy")
        declared = _declared_pages(reader)
        if declared is not None and declared > limits.pdf_max_pages:
            raise too_many(declared)
        if len(reader.pages) > limits.pdf_max_pages:
            raise too_many(len(reader.pages))
        pages = list(reader.pages)
        texts = []
        for page in pages:
            texts.append(page.extract_text() or "")
            budget.add(texts[-1])
        title = ""
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title).strip()
    except (ParseError, LimitExceeded):
        raise
    except LimitReachedError as exc:
        raise LimitExceeded(name, "INGEST_PDF_MAX_STREAM_MB", "a stream's decompressed size in MB",
                            limits.pdf_max_stream_bytes // (1024 * 1024)) from exc
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
