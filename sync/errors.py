"""Typed errors for knowledge sources: what went wrong with which file, in words an admin can act on."""

from __future__ import annotations

from collections.abc import Iterable


class SourceError(Exception):
    """A knowledge source could not be read; nothing was written for it."""

    def __init__(self, message: str, *, filename: str = "") -> None:
        super().__init__(message)
        self.filename = filename


class UnsupportedFileType(SourceError):
    def __init__(self, filename: str, extension: str, supported: Iterable[str]) -> None:
        self.extension = extension
        self.supported = tuple(sorted(supported))
        shown = extension or "(no extension)"
        super().__init__(
            f"{filename}: unsupported file type {shown}; supported types: {', '.join(self.supported)}",
            filename=filename,
        )


class ParseError(SourceError):
    """The file has a supported type but its content is broken (bad PDF, not a zip, bad encoding, bad row)."""

    def __init__(self, filename: str, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{filename}: cannot parse: {reason}", filename=filename)


class ConverterMissing(SourceError):
    """A legacy format needs an external converter that is not installed."""

    def __init__(self, filename: str, needed: str, install_hint: str) -> None:
        self.needed = needed
        self.install_hint = install_hint
        super().__init__(f"{filename}: reading it needs {needed}; {install_hint}", filename=filename)
