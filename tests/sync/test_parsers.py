from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sync.errors import ConverterMissing, ParseError, SourceError, UnsupportedFileType
from sync.parsers import SUPPORTED_EXTENSIONS, parse_file, parse_text
from tests.sync.builders import write_docx, write_pdf

pytestmark = pytest.mark.unit

MARKDOWN = """---
title: ignored front matter
---
# 会员手册

会员等级分为三档，
按年度消费累计。

## 积分规则

- 每消费一元积一分
- 积分可抵现
  有效期一年
1. 登录账户
2. 进入积分页面

| 等级 | 门槛 |
|------|------|
| 银卡 | 1000 |
| 金卡 | 5000 |

```python
print("hi")
```

Setext Heading
--------------

See [the docs](https://example.com/docs) ![logo](logo.png).
"""


def test_markdown_structure(tmp_path):
    path = tmp_path / "会员手册.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = parse_file(path, max_chars=1000)
    assert doc.source_type == "md" and doc.title == "会员手册" and doc.source_id == "file:会员手册.md"
    assert [(c.headings, c.text) for c in doc.chunks] == [
        (("会员手册",), "会员等级分为三档，按年度消费累计。"),
        (("会员手册", "积分规则"),
         "- 每消费一元积一分\n- 积分可抵现有效期一年\n1. 登录账户\n2. 进入积分页面\n"
         '等级 | 门槛\n银卡 | 1000\n金卡 | 5000\nprint("hi")'),
        (("会员手册", "Setext Heading"), "See the docs (https://example.com/docs) logo."),
    ]
    assert all(c.knowledge_type == "doc" for c in doc.chunks)


def test_text_utf8_gb18030_and_bad_encoding(tmp_path):
    body = "退款说明\n\n退款将在三个工作日内原路返回。\n如有疑问请联系客服。"
    (tmp_path / "a.txt").write_text(body, encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(body.encode("gb18030"))
    a, b = parse_file(tmp_path / "a.txt", knowledge_type="policy"), parse_file(tmp_path / "b.txt")
    assert [c.text for c in a.chunks] == ["退款说明\n退款将在三个工作日内原路返回。\n如有疑问请联系客服。"]
    assert [c.text for c in b.chunks] == [c.text for c in a.chunks]
    assert a.chunks[0].knowledge_type == "policy" and a.title == "a"
    (tmp_path / "c.txt").write_bytes(b"PK\x03\x04\x00\x00binary\x00")
    with pytest.raises(ParseError, match=r"c\.txt: cannot parse: looks like a binary file"):
        parse_file(tmp_path / "c.txt")
    (tmp_path / "d.txt").write_bytes("退款".encode() + b"\x80\xff\x80")
    with pytest.raises(ParseError, match=r"d\.txt: cannot parse: text is neither UTF-8 nor GB18030"):
        parse_file(tmp_path / "d.txt")


def test_html_drops_scripts_keeps_headings_lists_tables(tmp_path):
    html = """<html><head><title>帮助中心</title><style>p{color:red}</style>
    <script>var secret = "不要索引";</script></head><body>
    <nav>首页</nav>
    <h1>配送</h1><p>我们使用<b>顺丰</b>配送，<br>偏远地区除外。</p>
    <h3>时效</h3>
    <ul><li>北京：次日达</li><li>上海：次日达<ul><li>崇明：两日</li></ul></li></ul>
    <ol><li>下单</li><li>发货</li></ol>
    <table><tr><th>地区</th><th>运费</th></tr><tr><td>江浙沪</td><td>免运费</td></tr></table>
    <pre>line 1
  line 2</pre>
    <h2>售后</h2><div>七天无理由&amp;退换。</div><noscript>enable JS</noscript>
    </body></html>"""
    path = tmp_path / "help.html"
    path.write_text(html, encoding="utf-8")
    doc = parse_file(path)
    text = "\n".join(c.text for c in doc.chunks)
    assert doc.title == "帮助中心" and doc.source_type == "html"
    assert "不要索引" not in text and "color" not in text and "enable JS" not in text
    assert [(c.headings, c.text) for c in doc.chunks] == [
        ((), "首页"),
        (("配送",), "我们使用顺丰配送，\n偏远地区除外。"),
        (("配送", "时效"), "- 北京：次日达\n- 上海：次日达\n  - 崇明：两日\n1. 下单\n2. 发货\n"
                         "地区 | 运费\n江浙沪 | 免运费\nline 1\n  line 2"),
        (("配送", "售后"), "七天无理由&退换。"),
    ]


def test_pdf_text_per_page(tmp_path):
    path = write_pdf(tmp_path / "guide.pdf", [
        ["Warranty terms.", "Devices are covered for two years", "from the date of purchase."],
        ["Batteries are covered for one year."],
    ])
    doc = parse_file(path)
    assert doc.source_type == "pdf" and doc.metadata["pages"] == 2
    assert [c.text for c in doc.chunks] == [
        "Warranty terms.\nDevices are covered for two years from the date of purchase.\n"
        "Batteries are covered for one year."
    ]
    assert doc.chunks[0].metadata["pages"] == [1, 2]


def test_broken_pdf_is_a_clear_parse_error(tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    with pytest.raises(ParseError, match=r"^broken\.pdf: cannot parse: broken PDF") as info:
        parse_file(tmp_path / "broken.pdf")
    assert info.value.filename == "broken.pdf"
    good = write_pdf(tmp_path / "good.pdf", [["Some text."]]).read_bytes()
    (tmp_path / "truncated.pdf").write_bytes(good[: len(good) // 2])
    with pytest.raises(ParseError, match=r"truncated\.pdf: cannot parse: broken PDF"):
        parse_file(tmp_path / "truncated.pdf")


def test_encrypted_and_empty_pdf(tmp_path):
    locked = write_pdf(tmp_path / "locked.pdf", [["Secret text."]], user_password="u", owner_password="o")
    with pytest.raises(ParseError, match="password-protected"):
        parse_file(locked)
    # Owner-password-only PDFs (copy/print restrictions) open with an empty user password.
    restricted = write_pdf(tmp_path / "restricted.pdf", [["Readable text."]], owner_password="o")
    assert [c.text for c in parse_file(restricted).chunks] == ["Readable text."]
    with pytest.raises(ParseError, match="no extractable text"):
        parse_file(write_pdf(tmp_path / "scan.pdf", [[]]))


def test_docx_headings_lists_tables_chinese(tmp_path):
    doc = parse_file(write_docx(tmp_path / "退货.docx", title="退货与换货"))
    assert doc.title == "退货与换货" and doc.source_type == "docx"
    assert [(c.headings, c.text) for c in doc.chunks] == [
        (("退货政策",), "自签收之日起七天内，未使用的商品可以无理由退货。"),
        (("退货政策", "退货流程"), "1. 在订单页面点击申请退货\n2. 填写退货原因并上传照片\n- 等待客服审核"),
        (("退货政策", "运费说明"), "情形 | 运费承担\n质量问题 | 商家承担\n七天无理由 | 买家承担"),
        (("换货",), "换货请联系人工客服。"),
    ]


def test_docx_that_is_not_a_zip(tmp_path):
    (tmp_path / "old.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)  # an OLE2 .doc
    with pytest.raises(ParseError, match=r"old\.docx: cannot parse: not a valid \.docx \(it is not a zip package\)"):
        parse_file(tmp_path / "old.docx")


def test_docx_zip_without_word_content(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "fake.docx", "w") as zf:
        zf.writestr("hello.txt", "not word")
    with pytest.raises(ParseError, match=r"fake\.docx: cannot parse: broken \.docx"):
        parse_file(tmp_path / "fake.docx")


def _path_without_converters(tmp_path: Path) -> str:
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    return str(empty)


def test_doc_without_converter(tmp_path, monkeypatch):
    (tmp_path / "legacy.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    monkeypatch.setenv("PATH", _path_without_converters(tmp_path))
    with pytest.raises(ConverterMissing) as info:
        parse_file(tmp_path / "legacy.doc")
    message = str(info.value)
    assert message.startswith("legacy.doc: ")
    assert "apt-get install antiword" in message and "LibreOffice" in message


def _fake_tool(bin_dir: Path, name: str, script: str) -> None:
    tool = bin_dir / name
    tool.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


def test_doc_reads_antiword_output(tmp_path, monkeypatch):
    """A stand-in antiword on PATH: checks how the parser calls it and reads its UTF-8 output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "antiword", 'if [ "$1 $2 $3 $4" = "-m UTF-8.txt -w 0" ]; then\n'
                                    "printf '保修条款\\n\\n整机保修两年。\\n'\nelse echo bad args >&2; exit 2; fi\n")
    (tmp_path / "w.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    monkeypatch.setenv("PATH", str(bin_dir))
    doc = parse_file(tmp_path / "w.doc")
    assert doc.source_type == "doc" and [c.text for c in doc.chunks] == ["保修条款\n整机保修两年。"]
    _fake_tool(bin_dir, "antiword", "echo 'w.doc is not a Word Document.' >&2\nexit 1\n")
    with pytest.raises(ParseError, match=r"antiword could not read it: w\.doc is not a Word Document"):
        parse_file(tmp_path / "w.doc")


def test_doc_through_libreoffice(tmp_path, monkeypatch):
    """A stand-in soffice on PATH that 'converts' by copying a real .docx into --outdir, as soffice names it."""
    converted = write_docx(tmp_path / "real.docx")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_tool(bin_dir, "soffice",
               'case "$1" in -env:UserInstallation=file://*) ;; *) echo "no private profile" >&2; exit 3;; esac\n'
               '[ "$2 $3 $4 $5" = "--headless --convert-to docx --outdir" ] || { echo "bad args: $*" >&2; exit 2; }\n'
               f'/bin/cp "{converted}" "$6/manual.docx"\necho "$6" > "{tmp_path}/outdir.txt"\n')
    (tmp_path / "manual.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    monkeypatch.setenv("PATH", str(bin_dir))
    doc = parse_file(tmp_path / "manual.doc")
    assert doc.source_type == "doc" and doc.title == "manual"
    assert [c.headings for c in doc.chunks][:2] == [("退货政策",), ("退货政策", "退货流程")]
    outdir = Path((tmp_path / "outdir.txt").read_text().strip())
    assert outdir.name.startswith("larkdesk-doc-") and not outdir.exists()  # the temporary copy is gone


def test_unsupported_type_lists_supported(tmp_path):
    (tmp_path / "setup.exe").write_bytes(b"MZ")
    with pytest.raises(UnsupportedFileType) as info:
        parse_file(tmp_path / "setup.exe")
    message = str(info.value)
    assert isinstance(info.value, SourceError)
    assert ".exe" in message
    for ext in (".md", ".txt", ".html", ".htm", ".pdf", ".docx", ".doc", ".jsonl", ".csv", ".xlsx"):
        assert ext in message and ext in SUPPORTED_EXTENSIONS


def test_parse_text_in_memory():
    doc = parse_text("# 保修\n\n整机保修两年。\n\n## 电池\n\n电池保修一年。", source_id="doc:w", title="保修", fmt="md")
    assert [(c.headings, c.text, c.source_id, c.title) for c in doc.chunks] == [
        (("保修",), "整机保修两年。", "doc:w", "保修"), (("保修", "电池"), "电池保修一年。", "doc:w", "保修")]
    html = parse_text("<h2>A</h2><p>b c</p>", source_id="x", fmt="html", knowledge_type="solution")
    assert [(c.headings, c.text, c.knowledge_type) for c in html.chunks] == [(("A",), "b c", "solution")]
    with pytest.raises(ValueError, match="fmt"):
        parse_text("x", source_id="x", fmt="rtf")


def test_missing_file_and_bad_knowledge_type(tmp_path):
    with pytest.raises(ParseError, match="no such file"):
        parse_file(tmp_path / "gone.md")
    (tmp_path / "a.md").write_text("# x", encoding="utf-8")
    with pytest.raises(ValueError, match="knowledge_type"):
        parse_file(tmp_path / "a.md", knowledge_type="blog")


def test_parsing_writes_nothing(tmp_path):
    write_docx(tmp_path / "a.docx")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-garbage")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    parse_file(tmp_path / "a.docx")
    with pytest.raises(ParseError):
        parse_file(tmp_path / "bad.pdf")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == before


def test_same_file_same_chunk_ids(tmp_path):
    a = write_docx(tmp_path / "a.docx")
    first = [c.id for c in parse_file(a).chunks]
    write_docx(a)  # rebuilt: new zip timestamps, same content
    assert [c.id for c in parse_file(a).chunks] == first
    assert len(set(first)) == len(first)
