from __future__ import annotations

import copy

import pytest

from sync.docx_blocks import block_text, chunks_from_blocks, document_from_blocks

pytestmark = pytest.mark.unit


def _text(key: str, content: str, bid: str, btype: int, parent: str = "doc1", children=()) -> dict:
    return {"block_id": bid, "parent_id": parent, "children": list(children), "block_type": btype,
            key: {"elements": [{"text_run": {"content": content}}], "style": {}}}


def _blocks() -> list[dict]:
    """A document as the blocks API returns it: pages listed in API order, structure in `children`."""
    cells = []
    for i, content in enumerate(["套餐", "价格", "基础版", "99元", "专业版", "299元"]):
        cells.append({"block_id": f"cell{i}", "parent_id": "tbl", "children": [f"ct{i}"], "block_type": 32,
                      "table_cell": {}})
        cells.append(_text("text", content, f"ct{i}", 2, parent=f"cell{i}"))
    return [
        {"block_id": "doc1", "parent_id": "", "block_type": 1,
         "page": {"elements": [{"text_run": {"content": "产品"}}]},
         "children": ["h1", "p1", "h2", "b1", "b2", "img", "div", "h2b", "tbl", "h1b", "call", "empty", "code"]},
        _text("heading1", "产品介绍", "h1", 3),
        _text("text", "我们提供两种套餐。", "p1", 2),
        _text("heading2", "功能", "h2", 4),
        _text("bullet", "多人协作", "b1", 12, children=["b1a"]),
        _text("bullet", "权限管理", "b1a", 12, parent="b1"),
        _text("ordered", "数据导出", "b2", 13),
        {"block_id": "img", "parent_id": "doc1", "block_type": 27, "image": {"token": "boxcn"}},
        {"block_id": "div", "parent_id": "doc1", "block_type": 22, "divider": {}},
        _text("heading2", "价格", "h2b", 4),
        {"block_id": "tbl", "parent_id": "doc1", "block_type": 31, "children": [f"cell{i}" for i in range(6)],
         "table": {"cells": [f"cell{i}" for i in range(6)], "property": {"row_size": 3, "column_size": 2}}},
        *cells,
        _text("heading1", "售后", "h1b", 3),
        {"block_id": "call", "parent_id": "doc1", "block_type": 19, "callout": {}, "children": ["call1"]},
        _text("text", "七天无理由退换。", "call1", 2, parent="call"),
        _text("text", "   ", "empty", 2),
        _text("code", "curl https://api.example.com", "code", 14),
    ]


def test_one_chunk_per_content_block_with_headings_path():
    chunks = chunks_from_blocks("doc1", "产品", _blocks())
    assert [(c.block_id, c.headings, c.text) for c in chunks] == [
        ("p1", ("产品介绍",), "我们提供两种套餐。"),
        ("b1", ("产品介绍", "功能"), "多人协作"),
        ("b1a", ("产品介绍", "功能"), "权限管理"),
        ("b2", ("产品介绍", "功能"), "数据导出"),
        ("tbl", ("产品介绍", "价格"), "套餐 | 价格\n基础版 | 99元\n专业版 | 299元"),
        ("call1", ("售后",), "七天无理由退换。"),
        ("code", ("售后",), "curl https://api.example.com"),
    ]
    assert all(c.source_id == "feishu:doc1" and c.title == "产品" and c.knowledge_type == "doc" for c in chunks)
    assert [c.position for c in chunks] == list(range(7))


def test_order_comes_from_children_not_list_order():
    blocks = _blocks()
    shuffled = [blocks[0], *reversed(blocks[1:])]
    assert [c.block_id for c in chunks_from_blocks("doc1", "产品", shuffled)] == \
        [c.block_id for c in chunks_from_blocks("doc1", "产品", blocks)]


def test_editing_one_block_changes_exactly_one_chunk():
    before = chunks_from_blocks("doc1", "产品", _blocks())
    blocks = copy.deepcopy(_blocks())
    next(b for b in blocks if b["block_id"] == "ct3")["text"]["elements"][0]["text_run"]["content"] = "109元"
    after = chunks_from_blocks("doc1", "产品", blocks)
    changed = [(a.block_id, a.text) for a, b in zip(after, before, strict=True) if a.id != b.id]
    assert changed == [("tbl", "套餐 | 价格\n基础版 | 109元\n专业版 | 299元")]
    again = chunks_from_blocks("doc1", "产品", _blocks())
    assert [c.id for c in again] == [c.id for c in before]


def test_block_text_elements_and_containers():
    blocks = {b["block_id"]: b for b in _blocks()}
    assert block_text(blocks["call"], blocks) == "七天无理由退换。"
    rich = {"block_id": "x", "block_type": 2, "text": {"elements": [
        {"text_run": {"content": "见 "}}, {"mention_doc": {"title": "退货政策", "token": "doxcn"}},
        {"equation": {"content": "E=mc^2\n"}}]}}
    assert block_text(rich, blocks) == "见 退货政策E=mc^2"
    assert block_text(blocks["img"], blocks) == ""


def test_long_block_splits_at_sentences_keeping_block_id_and_document_wrapper():
    text = "".join(f"第{i}条说明比较长的内容。" for i in range(80))
    blocks = [{"block_id": "d", "parent_id": "", "block_type": 1, "page": {}, "children": ["t"]},
              _text("text", text, "t", 2, parent="d")]
    chunks = chunks_from_blocks("d", "T", blocks, knowledge_type="policy", max_chars=300)
    assert len(chunks) > 1 and {c.block_id for c in chunks} == {"t"}
    assert "".join(c.text for c in chunks) == text and all(len(c.text) <= 300 for c in chunks)
    doc = document_from_blocks("d", "T", blocks, source_id="wiki:abc")
    assert doc.source_type == "feishu_docx" and doc.source_id == "wiki:abc"
    assert {c.source_id for c in doc.chunks} == {"wiki:abc"}
    assert {c.source_id for c in chunks_from_blocks("feishu:d", "T", blocks)} == {"feishu:d"}
