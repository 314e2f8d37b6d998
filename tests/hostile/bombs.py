"""Hostile knowledge files, generated on the fly (small on disk, expensive to parse): zip bombs as .docx and
.xlsx, a PDF with one huge Flate stream, PDFs with very many pages, FAQ tables with very many rows.

Shared by tests/hostile/ and benchmarks/hostile.py. Every builder streams what it writes, so a 1 GB bomb costs
its compressed size in memory, not its expanded size.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CHUNK = 4 * 1024 * 1024


def _docx_parts() -> dict[str, bytes]:
    """The parts of a real (small) .docx written by python-docx, except its document.xml."""
    import docx

    buffer = io.BytesIO()
    docx.Document().save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as package:
        return {name: package.read(name) for name in package.namelist() if name != "word/document.xml"}


def _stream_member(package: zipfile.ZipFile, name: str, head: bytes, repeat: bytes, total: int, tail: bytes) -> None:
    """`head`, then `repeat` (whole copies only, so text stays valid UTF-8) up to about `total` bytes, `tail`."""
    per_block = max(1, _CHUNK // len(repeat))
    copies = max(1, total // len(repeat))
    with package.open(name, "w", force_zip64=True) as member:
        member.write(head)
        while copies > 0:
            n = min(per_block, copies)
            member.write(repeat * n)
            copies -= n
        member.write(tail)


def docx_bomb(path: Path, expanded_bytes: int) -> Path:
    """A real .docx whose document.xml expands to `expanded_bytes` of paragraphs (it compresses ~1000:1)."""
    paragraph = b"<w:p><w:r><w:t>" + "退货政策七天无理由".encode() * 20 + b"</w:t></w:r></w:p>\n"
    head = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="{_W}"><w:body>').encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        for name, data in _docx_parts().items():
            package.writestr(name, data)
        _stream_member(package, "word/document.xml", head, paragraph, expanded_bytes, b"</w:body></w:document>")
    return path


def many_members_zip(path: Path, members: int) -> Path:
    """A .docx-named package with `members` tiny files (each a few bytes compressed)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in _docx_parts().items():
            package.writestr(name, data)
        package.writestr("word/document.xml", f'<w:document xmlns:w="{_W}"><w:body/></w:document>')
        for i in range(members):
            package.writestr(f"customXml/filler{i}.xml", "<a/>")
    return path


def _xlsx_skeleton(package: zipfile.ZipFile) -> None:
    package.writestr("[Content_Types].xml", (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'))
    package.writestr("_rels/.rels", (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="xl/workbook.xml"/></Relationships>'))
    package.writestr("xl/workbook.xml", (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="FAQ" sheetId="1" r:id="rId1"/></sheets></workbook>'))
    package.writestr("xl/_rels/workbook.xml.rels", (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'worksheet" Target="worksheets/sheet1.xml"/></Relationships>'))


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def faq_xlsx(path: Path, rows: int, *, start: int = 0) -> Path:
    """An FAQ sheet (问题 / 答案 / 相似问题) with `rows` distinct entries, streamed as inline strings."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        _xlsx_skeleton(package)
        with package.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet '
                        b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            header = _cell("A1", "问题") + _cell("B1", "答案") + _cell("C1", "相似问题")
            sheet.write(f'<row r="1">{header}</row>'.encode())
            batch: list[str] = []
            for i in range(start, start + rows):
                r = i - start + 2
                batch.append(f'<row r="{r}">{_cell(f"A{r}", f"第{i}号商品可以退货吗")}'
                             f'{_cell(f"B{r}", f"第{i}号商品签收后七天内可以无理由退货。")}'
                             f'{_cell(f"C{r}", f"商品{i}能退吗")}</row>')
                if len(batch) == 2000:
                    sheet.write("".join(batch).encode())
                    batch = []
            sheet.write("".join(batch).encode() + b"</sheetData></worksheet>")
    return path


def faq_jsonl(path: Path, rows: int) -> Path:
    import json

    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            entry = {"question": f"第{i}号商品可以退货吗", "answer": f"第{i}号商品签收后七天内可以无理由退货。",
                     "similar": [f"商品{i}能退吗"]}
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return path


def _pdf(objects: list[bytes], path: Path) -> Path:
    """Objects 1..n (1 is the catalog) with a correct xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def pdf_flate_bomb(path: Path, expanded_bytes: int) -> Path:
    """One page whose content stream inflates to `expanded_bytes` (text operators, so extraction reads it all)."""
    op = b"BT /F1 12 Tf 72 720 Td (refund policy seven days) Tj ET\n"
    compressor = zlib.compressobj(9)
    parts, written = [], 0
    block = op * (_CHUNK // len(op))
    while written < expanded_bytes:
        piece = block[: expanded_bytes - written]
        parts.append(compressor.compress(piece))
        written += len(piece)
    data = b"".join(parts) + compressor.flush()
    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(data)} /Filter /FlateDecode >>\nstream\n".encode() + data + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ], path)


def pdf_many_pages(path: Path, pages: int, *, declared: int | None = None) -> Path:
    """`pages` pages sharing one small content stream; `declared` lies in the page tree's /Count."""
    kids = " ".join(f"{n} 0 R" for n in range(5, 5 + pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {declared if declared is not None else pages} >>".encode(),
        b"<< /Length 52 >>\nstream\nBT /F1 12 Tf 72 720 Td (refund within seven days.) Tj ET\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
            b"/Resources << /Font << /F1 4 0 R >> >> >>")
    objects += [page] * pages
    return _pdf(objects, path)
