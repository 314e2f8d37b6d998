"""Word .docx via python-docx: heading styles → headings, list paragraphs → items, tables → rows, in body order."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from sync.chunking import Element, heading, list_item, paragraph, table
from sync.errors import ParseError
from sync.limits import CharBudget, LimitExceeded, check_zip
from sync.parsers.base import Parsed, Parser

# Built-in names are stored in English ("Heading 2"); WPS and localized templates may write "标题 2".
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)


class _StyleNames:
    """Paragraph style names by style id, read once. python-docx resolves `paragraph.style` by scanning every
    style of the document each time (~2 ms a paragraph): a large file took minutes."""

    def __init__(self, document) -> None:
        from docx.enum.style import WD_STYLE_TYPE

        self._names = {s.style_id: s.name or "" for s in document.styles if s.type == WD_STYLE_TYPE.PARAGRAPH}
        default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
        self._default = (default.name or "") if default is not None else ""

    def of(self, par) -> str:
        return self._names.get(par._p.style, self._default)


def _heading_level(par, style: str) -> int:
    match = _HEADING_STYLE.match(style)
    if match:
        return int(match.group(1))
    ppr = par._p.pPr
    if ppr is not None:
        from docx.oxml.ns import qn

        outline = ppr.find(qn("w:outlineLvl"))
        if outline is not None:
            value = int(outline.get(qn("w:val"), "9"))
            if value < 9:  # 9 means body text
                return value + 1
    return 0


def _list_level(par, style: str) -> int | None:
    """Nesting level of a list paragraph, None when it is not one."""
    ppr = par._p.pPr
    if ppr is not None and ppr.numPr is not None:
        ilvl = ppr.numPr.ilvl
        return int(ilvl.val) if ilvl is not None and ilvl.val is not None else 0
    return 0 if style.lower().startswith("list") else None


def _table_rows(tbl) -> list[list[str]]:
    rows = []
    for row in tbl.rows:
        cells, last = [], None
        for cell in row.cells:
            if cell._tc is last:  # a merged cell shows up once per grid column
                continue
            last = cell._tc
            cells.append(" ".join(cell.text.split()))
        rows.append(cells)
    return rows


def parse_docx(path: Path) -> Parsed:
    name = path.name
    if not zipfile.is_zipfile(path):
        raise ParseError(name, "not a valid .docx (it is not a zip package); an old Word 97-2003 file must be named "
                               ".doc")
    check_zip(path)  # before python-docx reads every part into memory
    budget = CharBudget(name)
    try:
        import docx
        from docx.table import Table

        document = docx.Document(str(path))
        styles = _StyleNames(document)
        elements: list[Element] = []
        title = (document.core_properties.title or "").strip()
        numbers: dict[int, int] = {}  # running numbers for "List Number" paragraphs, by level
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                rows = _table_rows(block)
                budget.add("".join("".join(row) for row in rows))
                elements.append(table(rows))
                numbers.clear()
                continue
            text = block.text.strip()
            if not text:
                continue
            budget.add(text)
            style = styles.of(block)
            if style == "Title":
                title = title or text
                continue
            level = _heading_level(block, style)
            if level:
                elements.append(heading(text, level))
                numbers.clear()
                continue
            list_level = _list_level(block, style)
            if list_level is None:
                elements.append(paragraph(text))
                numbers.clear()
            elif "number" in style.lower():
                numbers[list_level] = numbers.get(list_level, 0) + 1
                elements.append(list_item(text, list_level, f"{numbers[list_level]}."))
            else:
                elements.append(list_item(text, list_level))
    except (ParseError, LimitExceeded, MemoryError):
        raise
    except Exception as exc:  # python-docx raises many kinds of errors on damaged packages
        raise ParseError(name, f"broken .docx ({type(exc).__name__}: {exc})") from exc
    return Parsed(elements=elements, title=title)


PARSER = Parser(".docx", "docx", parse_docx)
