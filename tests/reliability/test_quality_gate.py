"""The quality gate refuses encoded data (base64, hex) as a document, with a reason, and keeps language."""

from __future__ import annotations

import base64
import os

import pytest

from sync.quality import validate_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("junk", [
    base64.b64encode(os.urandom(2300)).decode(),  # ~3 KB of random base64, as in the issue
    "\n".join(base64.b64encode(os.urandom(57)).decode() for _ in range(40)),  # wrapped at 76 columns
    os.urandom(1500).hex(),
    " ".join(os.urandom(16).hex() for _ in range(60)),  # digests separated by spaces
    "-----BEGIN KEY-----\n" + base64.b64encode(os.urandom(900)).decode() + "\n-----END KEY-----",
])
def test_encoded_data_is_refused_with_a_reason(junk):
    report = validate_text(junk)
    assert not report.ok
    assert report.reason.startswith("not language") and "encoded data" in report.reason


@pytest.mark.parametrize("text", [
    "大件家电（冰箱、洗衣机、电视）退换货可预约免费上门取件，预约后48小时内上门。"
    "订单号 20241102002 可在“我的订单”查看。",
    "Returns are accepted within 7 days of delivery. Large appliances are collected at home within 48 hours; "
    "see https://shop.example.com/help/returns-and-refunds for the full policy and the form.",
    "退款到账时间：支付宝 1-3 个工作日，银行卡 3-7 个工作日。退款单号示例 RF2024110200001234，"
    "可凭单号咨询客服。商品编码 SKU-FRIDGE-BCD-520W 对应的型号为 BCD-520W。" * 3,
])
def test_language_with_numbers_links_and_codes_passes(text):
    assert validate_text(text).ok, validate_text(text).reason
