"""File extension → parser. One parser per extension; registering an extension twice is a bug."""

from __future__ import annotations

from sync.parsers.base import Parser

_PARSERS: dict[str, Parser] = {}


def register(parser: Parser) -> Parser:
    ext = parser.extension.lower()
    if not ext.startswith("."):
        raise ValueError(f"extension must start with '.': {ext!r}")
    if ext in _PARSERS:
        raise ValueError(f"a parser for {ext} is already registered")
    _PARSERS[ext] = parser
    return parser


def parser_for(extension: str) -> Parser | None:
    return _PARSERS.get(extension.lower())


def supported_extensions() -> tuple[str, ...]:
    return tuple(sorted(_PARSERS))
