"""The one masking function: every form of a personal number a customer may type, and what must stay as it is."""

from __future__ import annotations

import pytest

from observability.masking import find_personal_data, luhn_valid, mask_text, mask_value, phone_numbers

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        # mobile numbers: half and full width, spaces, dashes, dots, +86 / 0086 / (86)
        ("手机13812345678", "手机138****5678"),
        ("手机１３８１２３４５６７８谢谢", "手机138****5678谢谢"),
        ("电话 138 1234 5678", "电话 138****5678"),
        ("电话 138-1234-5678。", "电话 138****5678。"),
        ("＋８６ １３８－１２３４－５６７８", "+86 138****5678"),
        ("+86-13812345678", "+86-138****5678"),
        ("0086 13812345678", "0086 138****5678"),
        ("(+86)13812345678", "(+86)138****5678"),
        ("１３８　１２３４　５６７８", "138****5678"),
        # ID numbers: 18 digits (digit or X checksum), 15-digit old ones, full width, grouped
        ("身份证110105199003071234", "身份证110105************"),
        ("身份证 11010519900307123X", "身份证 110105************"),
        ("身份证 11010519900307123x", "身份证 110105************"),
        ("身份证１１０１０５１９９００３０７１２３Ｘ", "身份证110105************"),
        ("身份证 110105 19900307 1234", "身份证 110105************"),
        ("旧身份证 110105900307123", "旧身份证 110105*********"),
        # bank cards: grouped by four, Luhn-valid, or UnionPay 62
        ("卡号 6222 0212 3456 7890 123", "卡号 6222 **** **** 123"),
        ("卡号 4111111111111111", "卡号 4111 **** **** 1111"),
        ("卡号 6222021234567890123", "卡号 6222 **** **** 123"),
        ("卡号６２２２０２１２３４５６７８９０１２３", "卡号6222 **** **** 123"),
        ("card 4111-1111-1111-1111", "card 4111 **** **** 1111"),
        # e-mail addresses
        ("邮箱 zhang.san@example.com", "邮箱 z***@example.com"),
        ("邮箱ｌｉｓｉ＠ｑｑ．ｃｏｍ，谢谢", "邮箱l***@qq.com，谢谢"),
    ],
)
def test_personal_data_is_masked(raw, masked):
    assert mask_text(raw) == masked
    assert mask_text(masked) == masked  # idempotent: masking stored text again changes nothing
    assert find_personal_data(masked) == []


@pytest.mark.parametrize(
    "text",
    [
        "订单20241102002已发货",  # the demo order numbers (11 digits, not a mobile prefix)
        "订单号 2024110200212345678",  # 19 digits, not Luhn, not 62: a tracking number, not a card
        "order 20241121 costs 88",
        "event_id be42b41290123456789012345c72449f",  # hex ids
        "om_13812345678abc",  # letters glued on: an identifier
        "2024-11-21T10:00:00Z latency_ms=123",
        "退款 3 个工作日内原路退回",
        "价格 12345678901 元",  # 11 digits starting 12: no mobile prefix
        '{"ts": 1732876543.1, "ms": 1732876543123}',  # timestamps
    ],
)
def test_what_is_not_personal_data_stays(text):
    assert mask_text(text) == text


def test_findings_name_their_kind_and_span():
    text = "我是 zhang@qq.com，手机 13812345678，卡 4111111111111111，身份证 11010519900307123X"
    kinds = [(f.kind, text[f.start:f.end]) for f in find_personal_data(text)]
    assert kinds == [("email", "zhang@qq.com"), ("phone", "13812345678"), ("bank_card", "4111111111111111"),
                     ("id_card", "11010519900307123X")]


def test_phone_numbers_for_the_reveal_button():
    assert phone_numbers("我的手机是 １３８－１２３４－５６７８ 或 +86 139 8765 4321") == ["13812345678", "13987654321"]
    assert phone_numbers("订单 20241102002") == []


def test_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_nested_values_and_sensitive_words():
    assert mask_value({"a": ["13812345678", 5], "b": ("x@y.com",)}) == {"a": ["138****5678", 5], "b": ("x***@y.com",)}
    assert mask_text("客户张三 13812345678", extra_words=["张三"]) == "客户** 138****5678"
