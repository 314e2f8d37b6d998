"""How much one knowledge file may cost: every limit is a setting, and a file over one is refused with an error
naming that setting (HTTP 413 for size limits, 422 for a parse killed for time or memory).

Parsers read the limits of the parse in progress from `current_limits()` (set by `sync.parsers.parse_file`), so
their signatures stay `parse(path)`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from sync.errors import ParseError, SourceError

_MB = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class IngestLimits:
    zip_max_uncompressed_bytes: int = 64 * _MB
    zip_max_members: int = 2000
    pdf_max_pages: int = 2000
    pdf_max_stream_bytes: int = 16 * _MB
    max_faq_rows: int = 50_000
    max_chars: int = 10_000_000
    max_chunks: int = 50_000
    parse_timeout_s: float = 60.0
    parse_max_memory_bytes: int = 2048 * _MB
    background_rows: int = 200  # more new embeddings than this: the REST upload becomes a background job

    @classmethod
    def from_settings(cls, settings: Any) -> IngestLimits:
        return cls(
            zip_max_uncompressed_bytes=settings.ingest_zip_max_uncompressed_mb * _MB,
            zip_max_members=settings.ingest_zip_max_members,
            pdf_max_pages=settings.ingest_pdf_max_pages,
            pdf_max_stream_bytes=settings.ingest_pdf_max_stream_mb * _MB,
            max_faq_rows=settings.ingest_max_faq_rows,
            max_chars=settings.ingest_max_chars,
            max_chunks=settings.ingest_max_chunks,
            parse_timeout_s=settings.ingest_parse_timeout_s,
            parse_max_memory_bytes=settings.ingest_parse_max_memory_mb * _MB,
            background_rows=settings.ingest_background_rows,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LimitExceeded(SourceError):
    """A file over an ingest limit; `setting` names the environment setting that would let it in."""

    def __init__(self, filename: str, setting: str, what: str, limit: float, found: float | None = None, *,
                 status: int = 413) -> None:
        self.setting = setting
        self.limit = limit
        self.found = found
        self.status = status
        seen = f" ({_n(found)})" if found is not None else ""
        super().__init__(f"{filename}: {what}{seen} is over the limit of {_n(limit)} ({setting})", filename=filename)

    def to_dict(self) -> dict[str, Any]:
        return {"filename": self.filename, "setting": self.setting, "message": str(self), "limit": self.limit,
                "found": self.found, "status": self.status}


def _n(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


_DEFAULT = IngestLimits()
_current: ContextVar[IngestLimits | None] = ContextVar("ingest_limits", default=None)


def current_limits() -> IngestLimits:
    return _current.get() or _DEFAULT


@contextmanager
def applied(limits: IngestLimits) -> Iterator[IngestLimits]:
    token = _current.set(limits)
    try:
        yield limits
    finally:
        _current.reset(token)


def check_zip(path: Path, limits: IngestLimits | None = None) -> None:
    """Refuse a zip package (.docx, .xlsx) whose member count or total declared size is over the limits, before
    anything is extracted. Python's zipfile stops at a member's declared size (and fails its CRC), so a member
    that lies about its size cannot expand past what was checked here."""
    limits = limits or current_limits()
    try:
        with zipfile.ZipFile(path) as package:
            members = package.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ParseError(path.name, f"broken zip package ({type(exc).__name__}: {exc})") from exc
    if len(members) > limits.zip_max_members:
        raise LimitExceeded(path.name, "INGEST_ZIP_MAX_MEMBERS", "number of files in the package",
                            limits.zip_max_members, len(members))
    total = sum(m.file_size for m in members)
    if total > limits.zip_max_uncompressed_bytes:
        raise LimitExceeded(path.name, "INGEST_ZIP_MAX_UNCOMPRESSED_MB", "uncompressed size in MB",
                            limits.zip_max_uncompressed_bytes // _MB, round(total / _MB, 1))


class CharBudget:
    """Counts extracted characters as a parser goes, so a huge file stops at the limit instead of after it."""

    def __init__(self, filename: str, limits: IngestLimits | None = None) -> None:
        self.filename = filename
        self.limit = (limits or current_limits()).max_chars
        self.used = 0

    def add(self, text: str) -> None:
        self.used += len(text)
        if self.used > self.limit:
            raise LimitExceeded(self.filename, "INGEST_MAX_CHARS", "extracted characters", self.limit, self.used)


def count_rows(filename: str, rows: Iterable[T], limits: IngestLimits | None = None) -> Iterator[T]:
    """`rows` as they come, refused at the first row past INGEST_MAX_FAQ_ROWS (the rest is never read)."""
    limit = (limits or current_limits()).max_faq_rows
    for count, row in enumerate(rows, start=1):
        if count > limit:
            raise LimitExceeded(filename, "INGEST_MAX_FAQ_ROWS", f"FAQ rows (more than {limit:,})", limit)
        yield row
