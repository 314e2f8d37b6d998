"""HTML: scripts/styles dropped, h1–h6 kept as headings, lists as items, tables as rows, <pre> as code."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from sync.chunking import Element, code, heading, list_item, paragraph, table
from sync.parsers.base import Parsed, Parser, read_text
from sync.parsers.text_utils import join_lines

_SKIP = {"script", "style", "noscript", "template", "svg", "iframe", "object", "canvas"}
_BLOCK = {"p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "blockquote", "figure",
          "figcaption", "address", "dl", "dt", "dd", "form", "fieldset", "hr", "caption", "details", "summary",
          "body", "html"}
_VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}
_BR = "\x00"


def _clean(raw: str) -> str:
    # <br> separates lines; other whitespace (source line wraps included) collapses like a browser does.
    lines = (" ".join(join_lines(part.split("\n")).split()) for part in raw.split(_BR))
    return "\n".join(line for line in lines if line)


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.title = ""
        self._buf: list[str] = []
        self._skip = 0
        self._in_title = False
        self._heading = 0
        self._lists: list[list] = []  # [tag, next number]
        self._in_item = False
        self._pre = 0
        self._tables: list[list[list[str]]] = []  # rows of the open (outermost) table
        self._cell: list[str] | None = None

    # text routing ------------------------------------------------------------------------------------------
    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title += data
        elif self._cell is not None:
            self._cell.append(data)
        else:
            self._buf.append(data)

    def _flush(self) -> None:
        raw = "".join(self._buf)
        self._buf.clear()
        if self._pre:
            return
        text = _clean(raw)
        if not text:
            return
        if self._heading:
            self.elements.append(heading(text, self._heading))
        elif self._in_item and self._lists:
            tag, number = self._lists[-1]
            marker = f"{number}." if tag == "ol" else "-"
            self.elements.append(list_item(text, len(self._lists) - 1, marker))
        else:
            self.elements.append(paragraph(text))

    # tags -----------------------------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP:
            self._skip += tag not in _VOID
            return
        if self._skip:
            return
        if tag == "title":
            self._in_title = True
        elif self._tables and tag not in ("table", "tr", "td", "th", "br"):
            return  # inside a table only the cell structure matters
        elif tag == "br":
            (self._cell if self._cell is not None else self._buf).append(_BR if self._cell is None else " ")
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self._flush()
            self._heading = int(tag[1])
        elif tag in ("ul", "ol"):
            self._flush()  # text of the parent item comes before its nested list
            self._lists.append([tag, 1])
        elif tag == "li":
            self._flush()
            self._in_item = True
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag == "table":
            if self._tables:
                return
            self._flush()
            self._tables.append([])
        elif tag == "tr" and len(self._tables) == 1:
            self._tables[0].append([])
        elif tag in ("td", "th") and self._tables:
            self._cell = [] if self._cell is None else self._cell
        elif tag in _BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag == "title":
            self._in_title = False
        elif tag in ("td", "th") and self._cell is not None and self._tables:
            rows = self._tables[0]
            if not rows:
                rows.append([])
            rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._tables:
            rows = self._tables.pop()
            self._cell = None
            if rows:
                self.elements.append(table(rows))
        elif self._tables:
            return
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self._flush()
            self._heading = 0
        elif tag == "li":
            self._flush()
            self._in_item = False
            if self._lists:
                self._lists[-1][1] += 1
        elif tag in ("ul", "ol"):
            self._flush()
            if self._lists:
                self._lists.pop()
            self._in_item = bool(self._lists)
        elif tag == "pre" and self._pre:
            body = "".join(self._buf).replace(_BR, "\n")
            self._buf.clear()
            self._pre -= 1
            if body.strip():
                self.elements.append(code(body.strip("\n")))
        elif tag in _BLOCK:
            self._flush()

    def close(self) -> None:
        super().close()
        self._flush()


def parse_html_text(text: str) -> tuple[list[Element], str]:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.elements, " ".join(builder.title.split())


def parse_html(path: Path) -> Parsed:
    elements, title = parse_html_text(read_text(path))
    return Parsed(elements=elements, title=title)


PARSER = Parser(".html", "html", parse_html)
HTM_ALIAS = Parser(".htm", "html", parse_html)
