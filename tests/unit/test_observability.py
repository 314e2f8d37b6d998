"""Masking of personal numbers, secrets kept out of logs, and the log format."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from observability.logging import bind_ids, clear_ids, configure_logging
from observability.masking import mask_text, mask_value

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("我的手机号是13812345678，请回电", "我的手机号是138****5678，请回电"),
        ("call +86 138-1234-5678 now", "call +86 138****5678 now"),
        ("身份证110105199003071234", "身份证110105" + "*" * 12),
        ("身份证 11010519900307123X 已提交", "身份证 110105" + "*" * 12 + " 已提交"),
        ("卡号 6222 0212 3456 7890 123", "卡号 6222 **** **** 123"),
        ("order 20241121 costs 88", "order 20241121 costs 88"),
        ("event_id be42b41290123456789012345c72449f", "event_id be42b41290123456789012345c72449f"),
    ],
)
def test_mask_text(raw, masked):
    assert mask_text(raw) == masked


def test_mask_extra_words_and_nested_values():
    from observability.masking import configure_sensitive_words

    assert mask_text("客户张三投诉", extra_words=["张三"]) == "客户**投诉"
    configure_sensitive_words(["云雀内部项目X", " "])
    try:
        assert mask_text("请勿外传云雀内部项目X的进度") == "请勿外传" + "*" * 7 + "的进度"
    finally:
        configure_sensitive_words([])
    assert mask_value({"a": ["13812345678", 5], "b": ("x",)}) == {"a": ["138****5678", 5], "b": ("x",)}


def test_json_logs_carry_ids_and_hide_secrets_and_numbers(capsys):
    configure_logging("INFO", "json")
    bind_ids(event_id="ev-1", request_id="req-9")
    structlog.get_logger("t").info("hello", phone="13812345678", app_secret="s3cr3t", text="tel 13987654321")
    clear_ids()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "hello"
    assert record["event_id"] == "ev-1" and record["request_id"] == "req-9"
    assert record["phone"] == "138****5678"
    assert record["text"] == "tel 139****4321"
    assert record["app_secret"] == "***"
    assert "s3cr3t" not in line
    logging.getLogger().handlers.clear()
