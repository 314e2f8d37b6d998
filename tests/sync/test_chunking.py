from __future__ import annotations

import pytest

from sync.chunking import (
    Element,
    chunk_elements,
    code,
    heading,
    list_item,
    paragraph,
    split_long_text,
    split_sentences,
    table,
)

pytestmark = pytest.mark.unit


def test_headings_path_follows_levels():
    elements = [
        heading("产品手册", 1), paragraph("总述。"),
        heading("安装", 2), heading("Linux", 3), paragraph("运行安装脚本。"),
        heading("配置", 2), paragraph("编辑配置文件。"),
        heading("附录", 1), paragraph("联系方式。"),
    ]
    chunks = chunk_elements(elements, source_id="s")
    assert [(c.headings, c.text) for c in chunks] == [
        (("产品手册",), "总述。"),
        (("产品手册", "安装", "Linux"), "运行安装脚本。"),
        (("产品手册", "配置"), "编辑配置文件。"),
        (("附录",), "联系方式。"),
    ]
    assert [c.position for c in chunks] == [0, 1, 2, 3]


def test_small_paragraphs_pack_up_to_the_limit_and_are_never_split():
    paras = [f"第{i}段" + "内容" * 70 + "。" for i in range(5)]  # ~145 chars each
    chunks = chunk_elements([paragraph(p) for p in paras], source_id="s", max_chars=300)
    assert all(len(c.text) <= 300 for c in chunks)
    assert [c.text for c in chunks] == ["\n".join(paras[0:2]), "\n".join(paras[2:4]), paras[4]]


def test_long_paragraph_splits_only_at_sentence_ends():
    sentences = [f"这是第{i}句话，用来测试长段落的切分是否只发生在句子结尾！" for i in range(30)]
    text = "".join(sentences)
    assert len(text) > 800
    chunks = chunk_elements([paragraph(text)], source_id="s", max_chars=300)
    assert len(chunks) >= 3
    assert all(len(c.text) <= 300 and c.text.endswith("！") for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_sentence_split_keeps_decimals_and_urls_whole():
    text = "Price is 3.5 yuan. See example.com/a.b for details! 好的。“引号里”"
    assert split_sentences(text) == ["Price is 3.5 yuan. ", "See example.com/a.b for details! ", "好的。", "“引号里”"]


def test_text_without_sentence_ends_is_hard_cut_within_the_limit():
    parts = split_long_text("字" * 1050, 500)
    assert [len(p) for p in parts] == [500, 500, 50]


def test_table_over_the_limit_splits_between_rows_repeating_the_header():
    rows = [("型号", "价格", "库存")] + [(f"X-{i:03d}", f"{100 + i}元", f"{i}件") for i in range(60)]
    chunks = chunk_elements([heading("价格表", 1), table(rows)], source_id="s", max_chars=200)
    assert len(chunks) > 3
    all_rows = {" | ".join(r) for r in rows}
    seen_rows = []
    for chunk in chunks:
        lines = chunk.text.split("\n")
        assert lines[0] == "型号 | 价格 | 库存"
        assert all(line in all_rows for line in lines)  # never a partial row
        assert len(chunk.text) <= 200
        assert chunk.headings == ("价格表",)
        seen_rows.extend(lines[1:])
    assert seen_rows == [" | ".join(r) for r in rows[1:]]


def test_table_that_fits_stays_whole_in_one_chunk():
    chunks = chunk_elements([paragraph("前言" * 100), table([("a", "b"), ("1", "2")])], source_id="s", max_chars=210)
    assert [c.text for c in chunks] == ["前言" * 100, "a | b\n1 | 2"]


def test_list_is_never_cut_mid_item():
    items = [list_item(f"步骤{i}：" + "操作说明" * 15, marker=f"{i + 1}.") for i in range(12)]
    chunks = chunk_elements(items, source_id="s", max_chars=200)
    expected = {e.text for e in items}
    lines = [line for c in chunks for line in c.text.split("\n")]
    assert lines == [e.text for e in items]
    assert all(line in expected for line in lines)
    assert all(len(c.text) <= 200 for c in chunks)


def test_code_splits_between_lines():
    body = "\n".join(f"print({i})  # line {i}" for i in range(40))
    chunks = chunk_elements([code(body)], source_id="s", max_chars=120)
    assert "\n".join(c.text for c in chunks) == body
    assert all(len(c.text) <= 120 for c in chunks)


def test_same_content_same_id_and_duplicates_collapse():
    elements = [heading("A", 1), paragraph("同样的内容。"), heading("B", 1), paragraph("其他。")]
    first = chunk_elements(elements, source_id="s")
    second = chunk_elements(list(elements), source_id="s")
    assert [c.id for c in first] == [c.id for c in second]
    assert chunk_elements(elements, source_id="t")[0].id != first[0].id
    # An edit to one paragraph changes only that chunk's id.
    edited = chunk_elements([*elements[:3], paragraph("改过的。")], source_id="s")
    assert edited[0].id == first[0].id and edited[1].id != first[1].id
    dup = chunk_elements([heading("A", 1), paragraph("x" * 300), paragraph("x" * 300)], source_id="s", max_chars=400)
    assert len(dup) == 1 and dup[0].position == 0


def test_unknown_element_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown element kind"):
        Element("footnote", "x")
