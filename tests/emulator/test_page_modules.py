"""The simulator page's pure modules (card renderer, markdown, message bodies, doc edit ops), run by Node's
built-in test runner against the card JSON larkdesk really sends: the cards are built here by the product's
own functions, for every state an agent or a customer sees, and handed to the JS tests as a fixture file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.handlers import customer
from bot.handlers.streaming import streaming_card
from desk.cards import csat_card, csat_done_card, review_card, session_card
from desk.sessions import Session

pytestmark = pytest.mark.unit

JS_TESTS = Path(__file__).parent / "js"
HISTORY = [{"role": "user", "content": "快递三天没更新 <b>急</b> *真的*"},
           {"role": "assistant", "content": "请提供您的订单号"},
           {"role": "user", "content": "订单20241102002，我要投诉"}]


def _session(state: str) -> Session:
    now = time.time()
    return Session(session_id="s_0123456789abcdef", channel="feishu", customer_id="ou_cust_1",
                   customer_name="张三", state=state, priority="high", escalate_reason="complaint",
                   summary="快递三天没更新，我要投诉", escalated_at=now - 120, agent_id="ou_agent_ann",
                   agent_name="Ann", resolve_note="已补发" if state == "resolved" else "")


QUESTIONS = ["退货运费谁承担？", "退款多久到账？", "怎么申请退货？"]


def card_fixtures() -> dict:
    reviews = [SimpleNamespace(question="发票抬头*写错*了", solution="在订单详情重开 <发票>", review_id="rv_1",
                               submitted_by="ou_agent_ann"),
               SimpleNamespace(question="退款多久到账", solution="1-3 个工作日", review_id="rv_2",
                               submitted_by="ou_agent_bob")]
    closed = streaming_card("已经说完了。")
    closed["config"]["streaming_mode"] = False
    return {
        "answer": customer.answer_card("可以。在申请售后时选择**上门取件**。", "zh-CN"),
        "pending": session_card(_session("pending"), HISTORY),
        "claimed": session_card(_session("claimed"), HISTORY),
        "resolved": session_card(_session("resolved"), HISTORY),
        "returned": session_card(_session("bot"), HISTORY),
        "csat": csat_card(_session("resolved"), title="请为本次服务评分"),
        "csat_done": csat_done_card(4, title="感谢您的评价！"),
        "review": review_card(reviews),
        "review_empty": review_card([]),
        "suggestions": customer.suggestion_card([{"label": q, "key": f"faq-{i}"} for i, q in enumerate(QUESTIONS)],
                                                "zh-CN"),
        "questions": QUESTIONS,
        "streaming": streaming_card("正在为您查询"),
        "streaming_closed": closed,
    }


def test_page_modules_pass_their_node_tests(tmp_path):
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the simulator page's unit tests")
        pytest.skip("node not installed")
    fixtures = tmp_path / "cards.json"
    fixtures.write_text(json.dumps(card_fixtures(), ensure_ascii=False), encoding="utf-8")
    tests = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    assert len(tests) >= 3
    done = subprocess.run([node, "--test", "--test-reporter=tap", *tests], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "CARD_FIXTURES": str(fixtures)})
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout
