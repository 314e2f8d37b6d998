"""Markdown: ATX/setext headings, paragraphs, lists, pipe tables, fenced code; front matter skipped."""

from __future__ import annotations

import re
from pathlib import Path

from sync.chunking import Element, code, heading, list_item, paragraph, table
from sync.parsers.base import Parsed, Parser, read_text
from sync.parsers.text_utils import join_lines

_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)[^)]*\)")
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _inline(text: str) -> str:
    text = _IMAGE.sub(lambda m: m.group(1), text)
    return _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)


def _cells(line: str) -> tuple[str, ...]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return tuple(_inline(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", line))


def parse_markdown_text(text: str) -> list[Element]:
    text = _COMMENT.sub("", text)
    lines = text.split("\n")
    i = 0
    if lines and lines[0].strip() == "---":  # YAML front matter
        for j in range(1, len(lines)):
            if lines[j].strip() in ("---", "..."):
                i = j + 1
                break
    elements: list[Element] = []
    para: list[str] = []
    item: list[str] | None = None  # lines of the list item being read
    item_level, item_marker = 0, "-"

    def flush() -> None:
        nonlocal item
        if para:
            elements.append(paragraph(_inline(join_lines(para))))
            para.clear()
        if item is not None:
            elements.append(list_item(_inline(join_lines(item)), item_level, item_marker))
            item = None

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            flush()
            mark = fence.group(1)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(mark[0] * len(mark)):
                body.append(lines[i])
                i += 1
            elements.append(code("\n".join(body)))
            i += 1
            continue
        atx = _ATX.match(line)
        if atx:
            flush()
            elements.append(heading(_inline(atx.group(2)), len(atx.group(1))))
            i += 1
            continue
        if para and item is None and _SETEXT.match(line):
            level = 1 if stripped.startswith("=") else 2
            title = join_lines(para)
            para.clear()
            elements.append(heading(_inline(title), level))
            i += 1
            continue
        if _RULE.match(line):
            flush()
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]) and "-" in lines[i + 1]:
            flush()
            rows = [_cells(line)]
            i += 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                rows.append(_cells(lines[i]))
                i += 1
            elements.append(table(rows))
            continue
        listed = _LIST.match(line)
        if listed:
            flush()
            indent, marker, body_text = listed.groups()
            item, item_level = [body_text], len(indent.expandtabs(4)) // 2
            item_marker = "-" if marker in "-*+" else marker.rstrip(")").rstrip(".") + "."
            i += 1
            continue
        if item is not None:  # continuation of a list item (indented or lazy)
            item.append(stripped)
        else:
            para.append(stripped.lstrip(">").strip() if stripped.startswith(">") else stripped)
        i += 1
    flush()
    return elements


def parse_markdown(path: Path) -> Parsed:
    elements = parse_markdown_text(read_text(path))
    title = next((e.text for e in elements if e.kind == "heading" and e.level == 1), "")
    return Parsed(elements=elements, title=title)


PARSER = Parser(".md", "md", parse_markdown)
MARKDOWN_ALIAS = Parser(".markdown", "md", parse_markdown)
