from __future__ import annotations

import pytest

from sync.models import Chunk, ParsedDocument
from sync.parsers import parse_file
from sync.quality import validate_quality, validate_text

pytestmark = pytest.mark.unit


def _doc(*texts: str) -> ParsedDocument:
    return ParsedDocument("s", "T", [Chunk(source_id="s", text=t, position=i) for i, t in enumerate(texts)], "md")


def test_good_chinese_and_english_documents_pass():
    report = validate_quality(_doc("自签收之日起七天内，未使用的商品可以无理由退货。", "运费 | 商家承担"))
    assert report.ok and report.reason == ""
    assert validate_quality(_doc("Devices are covered for two years from the date of purchase.")).ok


def test_empty_and_near_empty_are_rejected():
    report = validate_quality(_doc())
    assert not report.ok and report.reason.startswith("empty")
    report = validate_quality(_doc("目录", "1.", "—— | ——"))
    assert not report.ok and report.reason == "near-empty: only 3 letters or digits (at least 20 needed)"


def test_garbled_text_is_rejected():
    mojibake = "退货政策：自签收之日起七天内可以无理由退货".encode().decode("latin-1")
    report = validate_text(mojibake)
    assert not report.ok and "wrong encoding" in report.reason
    cp1252 = "Itâ€™s the cafÃ© rÃ©sumÃ© policy for returns and exchanges".strip()
    assert "wrong encoding" in validate_text(cp1252).reason
    gbk_as_latin1 = "退货政策：自签收之日起七天内可以无理由退货，运费由买家承担".encode("gbk").decode("latin-1")
    report = validate_text(gbk_as_latin1)
    assert not report.ok and report.reason.startswith("garbled")
    report = validate_text("退货\ufffd\ufffd政策\ufffd\ufffd\ufffd说明" * 5)
    assert not report.ok and "U+FFFD" in report.reason
    report = validate_text("abc\x01\x02\x03\x04\x05def" * 10)
    assert not report.ok and "control characters" in report.reason


def test_quality_gate_on_a_parsed_file(tmp_path):
    (tmp_path / "ok.md").write_text("# 保修\n\n整机保修两年，电池保修一年，人为损坏不在保修范围内。", encoding="utf-8")
    assert validate_quality(parse_file(tmp_path / "ok.md")).ok
    (tmp_path / "thin.md").write_text("# 草稿\n\n待补充", encoding="utf-8")
    assert validate_quality(parse_file(tmp_path / "thin.md")).reason.startswith("near-empty")
