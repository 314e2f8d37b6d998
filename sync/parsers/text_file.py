"""Plain text: paragraphs separated by blank lines; lines inside a paragraph keep their breaks."""

from __future__ import annotations

import re
from pathlib import Path

from sync.chunking import Element, paragraph
from sync.parsers.base import Parsed, Parser, read_text


def parse_text_blocks(text: str) -> list[Element]:
    # Plain text has no markup for soft wraps, so a line break inside a block is kept as written.
    blocks = re.split(r"\n\s*\n", text)
    return [paragraph("\n".join(line.strip() for line in b.strip().split("\n"))) for b in blocks if b.strip()]


def parse_text(path: Path) -> Parsed:
    return Parsed(elements=parse_text_blocks(read_text(path)))


PARSER = Parser(".txt", "txt", parse_text)
