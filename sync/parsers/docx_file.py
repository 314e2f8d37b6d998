"""Word .docx via python-docx: heading styles → headings, list paragraphs → items, tables → rows, in body order."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from sync.chunking import Element, heading, list_item, paragraph, table
from sync.errors import ParseError
from sync.parsers.base import Parsed, Parser

# Built-in names are stored in English ("Heading 2"); WPS and localized templates may write "标题 2".
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)


def _heading_level(par) -> int:
    match = _HEADING_STYLE.match((par.style.name if par.style is not None else "") or "")
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


def _list_level(par) -> int | None:
    """Nesting level of a list paragraph, None when it is not one."""
    ppr = par._p.pPr
    if ppr is not None and ppr.numPr is not None:
        ilvl = ppr.numPr.ilvl
        return int(ilvl.val) if ilvl is not None and ilvl.val is not None else 0
    style = (par.style.name if par.style is not None else "") or ""
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
    try:
        import docx
        from docx.table import Table

        document = docx.Document(str(path))
        elements: list[Element] = []
        title = (document.core_properties.title or "").strip()
        numbers: dict[int, int] = {}  # running numbers for "List Number" paragraphs, by level
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                elements.append(table(_table_rows(block)))
                numbers.clear()
                continue
            text = block.text.strip()
            if not text:
                continue
            style = (block.style.name if block.style is not None else "") or ""
            if style == "Title":
                title = title or text
                continue
            level = _heading_level(block)
            if level:
                elements.append(heading(text, level))
                numbers.clear()
                continue
            list_level = _list_level(block)
            if list_level is None:
                elements.append(paragraph(text))
                numbers.clear()
            elif "number" in style.lower():
                numbers[list_level] = numbers.get(list_level, 0) + 1
                elements.append(list_item(text, list_level, f"{numbers[list_level]}."))
            else:
                elements.append(list_item(text, list_level))
    except ParseError:
        raise
    except Exception as exc:  # python-docx raises many kinds of errors on damaged packages
        raise ParseError(name, f"broken .docx ({type(exc).__name__}: {exc})") from exc
    return Parsed(elements=elements, title=title)


PARSER = Parser(".docx", "docx", parse_docx)
