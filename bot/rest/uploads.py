"""Reads a multipart upload into a temporary folder under the file's own name (the name picks the parser and
the source id), enforcing the size limit while it streams."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.rest.errors import ApiError, bad_request

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
UPLOAD_PREFIX = "larkdesk-upload-"
# Temporary folders of uploads and parses (sync/parse_process.py); removed when their request ends, and swept
# at start-up when a killed process could not.
_TEMP_PREFIXES = (UPLOAD_PREFIX, "larkdesk-parse-")
_MAX_FIELD_BYTES = 1024
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"uploads are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")


def safe_filename(name: str) -> str:
    """The base name only: no folders, no control characters (what a browser or curl sent may be a path)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip()[-200:]
    if base in ("", ".", ".."):
        raise bad_request("the file part needs a file name (its extension picks the parser)")
    return base


@dataclass
class Upload:
    folder: Path
    path: Path | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


async def read_upload(request: web.Request, *, file_field: str = "file") -> Upload:
    if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES + 64 * 1024:
        raise too_large()
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "send the file as multipart/form-data")
    upload = Upload(Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX)))
    try:
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    raise bad_request("nested multipart bodies are not supported")
                name = part.name or ""
                if name == file_field:
                    if upload.path is not None:
                        raise bad_request("send one file per request")
                    upload.path = await _save(part, upload.folder)
                else:
                    value = await part.read(decode=False)
                    if len(value) > _MAX_FIELD_BYTES:
                        raise bad_request(f"form field {name!r} is too long")
                    upload.fields[name] = value.decode("utf-8", errors="replace")
        except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as exc:  # a broken multipart body
            raise bad_request(f"malformed multipart body: {exc}") from None
    except BaseException:
        upload.cleanup()
        raise
    return upload


def sweep_stale_temp_folders(max_age_s: float = 3600.0) -> int:
    """Remove upload and parse folders older than `max_age_s` (no request lasts that long)."""
    removed = 0
    cutoff = time.time() - max_age_s
    root = Path(tempfile.gettempdir())
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(_TEMP_PREFIXES)]
    except OSError:
        return 0
    for folder in candidates:
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


async def _save(part: BodyPartReader, folder: Path) -> Path:
    path = folder / safe_filename(part.filename or "")
    size = 0
    with path.open("wb") as fh:  # small page-cache writes; the parse that follows runs in a thread
        while chunk := await part.read_chunk(256 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise too_large()
            fh.write(chunk)
    return path
