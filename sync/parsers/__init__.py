"""Knowledge files → ParsedDocument. `parse_file` picks the parser by extension; parsing never writes anything,
so a caller that writes only after it returns never leaves a half-synced source behind."""

from __future__ import annotations

from pathlib import Path

from sync.chunking import DEFAULT_MAX_CHARS, chunk_elements
from sync.errors import ParseError, UnsupportedFileType
from sync.faq import faq_chunks
from sync.limits import IngestLimits, LimitExceeded, applied, current_limits
from sync.models import KNOWLEDGE_TYPES, ParsedDocument
from sync.parsers import doc_file, docx_file, faq_files, html_file, markdown_file, pdf_file, text_file
from sync.parsers.base import Parsed, Parser
from sync.parsers.registry import parser_for, register, supported_extensions

for _parser in (markdown_file.PARSER, markdown_file.MARKDOWN_ALIAS, text_file.PARSER, html_file.PARSER,
                html_file.HTM_ALIAS, pdf_file.PARSER, docx_file.PARSER, doc_file.PARSER, faq_files.JSONL,
                faq_files.CSV, faq_files.XLSX):
    register(_parser)

SUPPORTED_EXTENSIONS: tuple[str, ...] = supported_extensions()


def default_source_id(path: Path) -> str:
    return f"file:{path.name}"


def parse_file(
    path: str | Path,
    *,
    knowledge_type: str | None = None,
    source_id: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    limits: IngestLimits | None = None,
) -> ParsedDocument:
    """Parse and chunk one file. `knowledge_type` defaults to "faq" for FAQ tables, "doc" otherwise.

    Raises UnsupportedFileType, ParseError (broken or unreadable content), ConverterMissing (.doc) or
    LimitExceeded (`limits`, default the ones in effect: see sync/limits.py). Runs in the caller's process: for
    files a stranger uploads use `sync.parse_process.parse_bounded`, which caps time and memory too.
    """
    with applied(limits or current_limits()) as in_effect:
        return _parse_file(Path(path), knowledge_type, source_id, max_chars, in_effect)


def _parse_file(path: Path, knowledge_type: str | None, source_id: str | None, max_chars: int,
                limits: IngestLimits) -> ParsedDocument:
    extension = path.suffix.lower()
    parser = parser_for(extension)
    if parser is None:
        raise UnsupportedFileType(path.name, extension, SUPPORTED_EXTENSIONS)
    if knowledge_type is not None and knowledge_type not in KNOWLEDGE_TYPES:
        raise ValueError(f"knowledge_type must be one of {KNOWLEDGE_TYPES}, not {knowledge_type!r}")
    if not path.is_file():
        raise ParseError(path.name, "no such file")
    kind = knowledge_type or ("faq" if parser.faq else "doc")
    sid = source_id or default_source_id(path)
    parsed = parser.parse(path)
    _check_chars(path.name, parsed, limits)
    title = parsed.title or path.stem
    if parser.faq:
        chunks = faq_chunks(sid, parsed.entries, title=title, knowledge_type=kind)
    else:
        chunks = chunk_elements(parsed.elements, source_id=sid, title=title, knowledge_type=kind,
                                max_chars=max_chars)
    if len(chunks) > limits.max_chunks:
        raise LimitExceeded(path.name, "INGEST_MAX_CHUNKS", "number of chunks", limits.max_chunks, len(chunks))
    metadata = {"filename": path.name, "extension": extension, **parsed.metadata}
    if parser.faq:
        metadata["entries"] = len(parsed.entries)
    return ParsedDocument(source_id=sid, title=title, chunks=chunks, source_type=parser.source_type,
                          metadata=metadata)


def _check_chars(filename: str, parsed: Parsed, limits: IngestLimits) -> None:
    """Every parser's output, whatever it counted on the way (text formats count here only)."""
    total = sum(len(e.text) + sum(len(c) for row in e.rows for c in row) for e in parsed.elements)
    total += sum(len(e.question) + len(e.answer) + sum(map(len, e.similar)) for e in parsed.entries)
    if total > limits.max_chars:
        raise LimitExceeded(filename, "INGEST_MAX_CHARS", "extracted characters", limits.max_chars, total)


_TEXT_FORMATS = {
    "md": markdown_file.parse_markdown_text,
    "txt": text_file.parse_text_blocks,
    "html": lambda text: html_file.parse_html_text(text)[0],
}


def parse_text(
    text: str,
    *,
    source_id: str,
    title: str = "",
    fmt: str = "md",
    knowledge_type: str = "doc",
    max_chars: int = DEFAULT_MAX_CHARS,
) -> ParsedDocument:
    """Parse and chunk text already in memory (pasted by an admin, an evaluation corpus): fmt md, txt or html."""
    if fmt not in _TEXT_FORMATS:
        raise ValueError(f"fmt must be one of {sorted(_TEXT_FORMATS)}, not {fmt!r}")
    if knowledge_type not in KNOWLEDGE_TYPES:
        raise ValueError(f"knowledge_type must be one of {KNOWLEDGE_TYPES}, not {knowledge_type!r}")
    elements = _TEXT_FORMATS[fmt](text.replace("\r\n", "\n"))
    chunks = chunk_elements(elements, source_id=source_id, title=title, knowledge_type=knowledge_type,
                            max_chars=max_chars)
    return ParsedDocument(source_id=source_id, title=title, chunks=chunks, source_type=fmt, metadata={})


__all__ = ["SUPPORTED_EXTENSIONS", "Parsed", "Parser", "default_source_id", "parse_file", "parse_text", "parser_for",
           "register"]
