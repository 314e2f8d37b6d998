"""Small text helpers shared by parsers."""

from __future__ import annotations


def join_lines(lines: list[str]) -> str:
    """Join soft-wrapped lines: no space between two CJK characters, one space otherwise."""
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if out and (out[-1].isascii() or line[0].isascii()):
            out += " "
        out += line
    return out


def squash(text: str) -> str:
    """Collapse runs of whitespace to one space."""
    return " ".join(text.split())
