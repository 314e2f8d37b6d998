"""What the customer wants (intent), how upset they are, and the question to search for given the history.

With an LLM configured both steps ask it (versioned prompts `intent_classify` and `query_rewrite`); without
one, or when it fails or is slow, keyword rules decide and the rewrite carries entities such as an order
number from earlier turns into a follow-up question.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from config.prompts import load_prompt
from desk.business import extract_order_id

log = structlog.get_logger("desk.intent")

IntentName = Literal["faq", "business_query", "chitchat", "complaint", "human_request"]
INTENTS: tuple[str, ...] = ("faq", "business_query", "chitchat", "complaint", "human_request")

_COMPLAINT = ("投诉", "举报", "差评", "太差", "垃圾", "骗子", "欺骗", "坑人", "忽悠", "气死", "生气", "愤怒", "恶心",
              "什么破", "太慢了", "还不到", "退钱", "赔偿", "消协", "12315", "曝光", "律师", "起诉",
              "complain", "complaint", "terrible", "worst", "awful", "scam", "angry", "ridiculous", "refund now")
# Wording strong enough to make a complaint urgent.
_STRONG_NEGATIVE = ("12315", "消协", "曝光", "律师", "起诉", "报警", "媒体", "气死", "骗子", "lawyer", "sue",
                    "police", "scam")
# Wording that makes whatever the customer needs urgent: raises the priority of a hand-over.
_URGENT = ("紧急", "加急", "急用", "很急", "特别急", "着急", "急死", "十万火急", "尽快", "马上处理", "立刻", "赶紧",
           "投诉", "12315", "消协", "urgent", "asap", "immediately", "emergency")
# About one specific order of this customer (its status, its parcel, its refund), not about orders in general:
# "火星上有快递吗", "怎么修改订单地址" or "付款后多久发货" are knowledge questions.
_MY_ORDER = re.compile(
    r"(我的|我买的|我下的|我这个|我那个|我家的|我那|我这).{0,6}(订单|快递|包裹|货|单子|退款)|到哪了|到哪儿了|"
    r"物流(进度|信息|状态)|查(一下|下)?(订单|物流|快递|单)|(这单|那单|该订单)|"
    r"where is my (order|package|parcel)|track(ing)? my|my order|order status",
    re.IGNORECASE,
)
# Order words without "my": an order question if the conversation has an order, a knowledge question otherwise.
_ORDERISH = re.compile(
    r"(什么时候|啥时候|何时|多久)(发货|到货|能到|送到|到)|发货了(吗|没)|还没(发货|到|收到)|退款(进度|到账|到哪|还没)",
    re.IGNORECASE,
)
_CHITCHAT = re.compile(
    r"^(你好|您好|在吗|在不在|hi|hello|hey|谢谢|多谢|感谢|thanks|thank you|好的|ok|okay|再见|拜拜|bye|早上好|晚上好"
    r"|哈哈+|嗯+|good morning|good night)[!！。.~～\s]*$",
    re.IGNORECASE,
)
# A follow-up that leans on what was said before ("and when does it arrive?").
FOLLOW_UP = re.compile(r"(它|这个|那个|这单|那单|该订单|呢|还有|那么|\bit\b|\bthat\b|\bthis one\b)", re.IGNORECASE)


@dataclass(frozen=True)
class Intent:
    name: str
    negative: bool = False  # strong negative wording
    source: str = "rules"  # "rules" or "llm"
    urgent: bool = False  # urgent wording (紧急, 加急, 12315 …)
    order_words: bool = False  # mentions orders, shipping or refunds without saying whose: maybe an order question


def keyword_in(text: str, words: Sequence[str]) -> bool:
    lowered = text.lower()
    return any(word.lower() in lowered for word in words if word)


def rule_intent(text: str, human_keywords: Sequence[str]) -> Intent:
    negative = keyword_in(text, _STRONG_NEGATIVE)
    urgent = keyword_in(text, _URGENT)
    if keyword_in(text, human_keywords):
        return Intent("human_request", negative, urgent=urgent)
    if keyword_in(text, _COMPLAINT):
        return Intent("complaint", negative, urgent=urgent)
    if _CHITCHAT.match(text.strip()):
        return Intent("chitchat")
    if _MY_ORDER.search(text) or extract_order_id(text):
        return Intent("business_query", negative, urgent=urgent)
    return Intent("faq", negative, urgent=urgent, order_words=bool(_ORDERISH.search(text)))


def _history_text(history: Sequence[dict[str, Any]], limit: int = 6) -> str:
    lines = [f"{h.get('role', 'user')}: {h.get('content', '')}" for h in list(history)[-limit:]]
    return "\n".join(lines) or "(none)"


class IntentRecognizer:
    def __init__(self, human_keywords: Sequence[str], *, llm: Any = None, timeout_s: float = 5.0) -> None:
        self.human_keywords = tuple(w.strip() for w in human_keywords if w.strip())
        self.llm = llm
        self.timeout_s = timeout_s
        self.classify_prompt = load_prompt("intent_classify")
        self.rewrite_prompt = load_prompt("query_rewrite")

    def _timeout(self, budget_s: float | None) -> float:
        return self.timeout_s if budget_s is None else min(self.timeout_s, budget_s)

    async def recognize(self, text: str, history: Sequence[dict[str, Any]] = (), *,
                        budget_s: float | None = None) -> Intent:
        """`budget_s`: what is left of the turn's time budget; too little and the rules decide."""
        rules = rule_intent(text, self.human_keywords)
        # An explicit request for a human is never second-guessed by a model.
        if self.llm is None or rules.name == "human_request" or self._timeout(budget_s) < 0.3:
            return rules
        try:
            completion = await self.llm.complete(
                self.classify_prompt.render(history=_history_text(history), message=text),
                max_tokens=40, timeout_s=self._timeout(budget_s), temperature=0.0,
                prompt_name=self.classify_prompt.name, prompt_version=self.classify_prompt.version)
            parsed = json.loads(completion.text.strip().strip("`").removeprefix("json").strip())
            name = str(parsed.get("intent", ""))
            if name not in INTENTS:
                raise ValueError(f"unknown intent {name!r}")
            return Intent(name, bool(parsed.get("negative")) or rules.negative, "llm", urgent=rules.urgent,
                          order_words=rules.order_words)
        except Exception as exc:  # a model that is down, slow or talkative must not stop the conversation
            log.warning("intent.llm_failed", error=type(exc).__name__)
            return rules

    async def rewrite(self, text: str, history: Sequence[dict[str, Any]] = (), *,
                      budget_s: float | None = None) -> str:
        earlier = [h for h in history if h.get("role") == "user" and h.get("content") != text]
        if not earlier:
            return text
        if self.llm is not None and self._timeout(budget_s) >= 0.3:
            try:
                completion = await self.llm.complete(
                    self.rewrite_prompt.render(history=_history_text(history), message=text),
                    max_tokens=120, timeout_s=self._timeout(budget_s), temperature=0.0,
                    prompt_name=self.rewrite_prompt.name, prompt_version=self.rewrite_prompt.version)
                rewritten = completion.text.strip()
                if rewritten and len(rewritten) <= 4 * len(text) + 200:
                    return rewritten
            except Exception as exc:
                log.warning("intent.rewrite_failed", error=type(exc).__name__)
        return carry_entities(text, earlier)


def carry_entities(text: str, earlier: Sequence[dict[str, Any]]) -> str:
    """Rule rewrite: a follow-up without its own order number gets the last one mentioned."""
    if extract_order_id(text):
        return text
    for entry in reversed(earlier):
        order_id = extract_order_id(str(entry.get("content", "")))
        if order_id and (FOLLOW_UP.search(text) or len(text) <= 12):
            return f"订单{order_id} {text}"
    return text
