"""Build small real files for parser tests (written by the real libraries: python-docx, openpyxl, fpdf2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def write_docx(path: Path, *, title: str = "") -> Path:
    """A Chinese manual: headings on two levels, paragraphs, bullet and numbered lists, a table."""
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading("退货政策", level=1)
    document.add_paragraph("自签收之日起七天内，未使用的商品可以无理由退货。")
    document.add_heading("退货流程", level=2)
    document.add_paragraph("在订单页面点击申请退货", style="List Number")
    document.add_paragraph("填写退货原因并上传照片", style="List Number")
    document.add_paragraph("等待客服审核", style="List Bullet")
    document.add_heading("运费说明", level=2)
    tbl = document.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("情形", "运费承担"), ("质量问题", "商家承担"), ("七天无理由", "买家承担")]):
        tbl.cell(r, 0).text = a
        tbl.cell(r, 1).text = b
    document.add_heading("换货", level=1)
    document.add_paragraph("换货请联系人工客服。")
    document.save(str(path))
    return path


def write_pdf(path: Path, pages: Sequence[Sequence[str]], *, user_password: str | None = None,
              owner_password: str | None = None) -> Path:
    """One list of lines per page (English: the built-in fonts have no CJK glyphs)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if owner_password is not None:
        pdf.set_encryption(owner_password=owner_password, user_password=user_password or "")
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]]) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    workbook.save(str(path))
    return path
