from __future__ import annotations

import json

import pytest

from sync.chunking import faq_chunks
from sync.errors import ParseError
from sync.faq import entry_id, faq_chunk
from sync.models import FaqEntry
from sync.parsers import parse_file
from tests.sync.builders import write_xlsx

pytestmark = pytest.mark.unit


def _summary(doc):
    return [(c.block_id, c.text, c.question, c.answer, c.search_text, c.knowledge_type) for c in doc.chunks]


def test_jsonl_with_ids_and_similar(tmp_path):
    lines = [
        {"id": "q1", "question": "怎么退货？", "answer": "在订单页申请退货。", "similar": ["如何退货", "退货流程"]},
        {"question": "运费谁出？", "answer": "质量问题商家承担。"},
        {},
    ]
    path = tmp_path / "faq.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) if x else "" for x in lines), encoding="utf-8")
    doc = parse_file(path)
    assert doc.source_type == "faq" and doc.metadata["entries"] == 2
    assert _summary(doc) == [
        ("q1", "问：怎么退货？\n答：在订单页申请退货。", "怎么退货？", "在订单页申请退货。",
         "怎么退货？\n如何退货\n退货流程", "faq"),
        (entry_id("运费谁出？"), "问：运费谁出？\n答：质量问题商家承担。", "运费谁出？", "质量问题商家承担。",
         "运费谁出？", "faq"),
    ]


def test_jsonl_bad_line_names_the_line(tmp_path):
    path = tmp_path / "faq.jsonl"
    path.write_text('{"question": "a", "answer": "b"}\n{"question": "c", \n', encoding="utf-8")
    with pytest.raises(ParseError, match=r"faq\.jsonl: cannot parse: line 2 is not valid JSON"):
        parse_file(path)
    path.write_text('{"question": "a"}\n', encoding="utf-8")
    with pytest.raises(ParseError, match="line 1 has no answer"):
        parse_file(path)


def test_csv_chinese_headers_and_similar_separators(tmp_path):
    rows = "编号,问题,答案,相似问题\n" \
           'A1,发票怎么开？,在订单详情页申请电子发票。,"开发票|申请发票"\n' \
           'A2,多久发货？,"付款后48小时内发货，\n节假日顺延。","几天发货\n什么时候发货"\n' \
           ",,,\n"
    path = tmp_path / "常见问题.csv"
    path.write_bytes(rows.encode("gb18030"))  # what Excel on Chinese Windows saves
    doc = parse_file(path)
    assert [(c.block_id, c.question, c.search_text) for c in doc.chunks] == [
        ("A1", "发票怎么开？", "发票怎么开？\n开发票\n申请发票"),
        ("A2", "多久发货？", "多久发货？\n几天发货\n什么时候发货"),
    ]
    assert doc.chunks[1].answer == "付款后48小时内发货，\n节假日顺延。"
    assert doc.title == "常见问题"


def test_csv_english_headers_any_order_and_missing_columns(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("Answer,Question,Similar\nReset it in settings.,How to reset password?,forgot password\n",
                    encoding="utf-8")
    doc = parse_file(path, knowledge_type="solution")
    assert [(c.question, c.answer, c.search_text, c.knowledge_type) for c in doc.chunks] == [
        ("How to reset password?", "Reset it in settings.", "How to reset password?\nforgot password", "solution")
    ]
    path.write_text("title,body\na,b\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"header row \['title', 'body'\] lacks the columns question/问题"):
        parse_file(path)


def test_csv_duplicate_question_is_an_error(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\n退货？,可以\n退货？,不可以\n", encoding="utf-8")
    with pytest.raises(ParseError, match="row 3 repeats the id or question of row 2"):
        parse_file(path)


def test_xlsx_sheets_numbers_and_notes_sheet(tmp_path):
    path = write_xlsx(tmp_path / "faq.xlsx", {
        "说明": [("本表由客服组维护",)],
        "售后": [("问题", "答案", "相似问题", "ID"),
                 ("保修多久？", "整机保修两年。", "保修期\n质保多久", 101),
                 (None, None, None, None),
                 ("电池保修吗？", "电池保修一年。", None, 102)],
    })
    doc = parse_file(path)
    assert [(c.block_id, c.question, c.answer, c.search_text) for c in doc.chunks] == [
        ("101", "保修多久？", "整机保修两年。", "保修多久？\n保修期\n质保多久"),
        ("102", "电池保修吗？", "电池保修一年。", "电池保修吗？"),
    ]


def test_xlsx_errors(tmp_path):
    (tmp_path / "old.xlsx").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(ParseError, match=r"old\.xlsx: cannot parse: not a valid \.xlsx"):
        parse_file(tmp_path / "old.xlsx")
    path = write_xlsx(tmp_path / "bad.xlsx", {"S": [("名称", "说明"), ("a", "b")]})
    with pytest.raises(ParseError, match="no sheet has a header row"):
        parse_file(path)
    path = write_xlsx(tmp_path / "half.xlsx", {"S": [("问题", "答案"), ("只有问题", None)]})
    with pytest.raises(ParseError, match="row 2 has no answer"):
        parse_file(path)


def test_faq_chunk_id_changes_with_answer_but_block_id_does_not():
    a = faq_chunk(FaqEntry(id=entry_id("Q"), question="Q", answer="A1"), source_id="s")
    b = faq_chunk(FaqEntry(id=entry_id("Q"), question="Q", answer="A2"), source_id="s")
    same = faq_chunk(FaqEntry(id=entry_id("Q"), question="Q", answer="A1"), source_id="s")
    assert a.block_id == b.block_id and a.id != b.id and a.id == same.id
    listed = faq_chunks("s", [FaqEntry("1", "Q1", "A1", ("Q1 again",)), FaqEntry("2", "Q2", "A2")])
    assert [(c.block_id, c.position, c.search_text) for c in listed] == [("1", 0, "Q1\nQ1 again"), ("2", 1, "Q2")]
