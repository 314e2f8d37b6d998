"""Query and index text normalization: width, case, numbers, punctuation and customer-service synonyms.

Customers type 退款, 退钱 and 钱退回来 for the same thing, mix full-width digits (１２３) with ASCII and
write 7天 or 七天. Normalizing both the indexed text and the query closes those gaps for BM25 and the
cache key; dense embeddings see the original text (the model copes with variety better than rules).
"""

from __future__ import annotations

import re
import unicodedata

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=[天日月年个次元块件小时分钟周])")
_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[\s!-/:-@\[-`{-~。，、；：？！…—·“”‘’《》〈〉【】（）「」『』〔〕]+")

# Colloquial → canonical customer-service terms (applied to queries and to indexed text alike).
SYNONYMS: dict[str, str] = {
    "退钱": "退款",
    "钱退": "退款",
    "返款": "退款",
    "快递": "物流",
    "包裹": "物流",
    "寄到": "送达",
    "送到": "送达",
    "到货": "送达",
    "收货地址": "地址",
    "改地址": "修改地址",
    "发票抬头": "抬头",
    "开票": "开发票",
    "付款": "支付",
    "付钱": "支付",
    "密码忘了": "忘记密码",
    "登不上": "无法登录",
    "登录不了": "无法登录",
    "登陆": "登录",
    "优惠卷": "优惠券",
    "客服电话": "联系客服",
    "人工": "人工客服",
    "会员卡": "会员",
    "app": "应用",
    "APP": "应用",
}
_SYNONYM_RE = re.compile("|".join(sorted(map(re.escape, SYNONYMS), key=len, reverse=True)))


def to_half_width(text: str) -> str:
    """Full-width ASCII (１２３ＡＢＣ，) → half-width; NFKC also folds compatibility forms."""
    return unicodedata.normalize("NFKC", text)


def chinese_numbers_to_digits(text: str) -> str:
    """七天 → 7天, 十五天 → 15天, 两个 → 2个 (only before a unit, so 一起 stays 一起)."""

    def convert(match: re.Match[str]) -> str:
        total, current = 0, 0
        for ch in match.group(0):
            if ch in _CN_DIGITS:
                current = _CN_DIGITS[ch]
            else:
                total += (current or 1) * _CN_UNITS[ch]
                current = 0
        return str(total + current)

    return _CN_NUMBER.sub(convert, text)


def normalize_text(text: str, *, synonyms: bool = True) -> str:
    """The form used for BM25 indexing and querying."""
    text = chinese_numbers_to_digits(to_half_width(text)).lower()
    if synonyms:
        text = _SYNONYM_RE.sub(lambda m: SYNONYMS.get(m.group(0), SYNONYMS.get(m.group(0).upper(), m.group(0))),
                               text)
    return _SPACES.sub(" ", text).strip()


def cache_key_text(text: str) -> str:
    """Questions that differ only in width, case, spacing or punctuation share one cache entry."""
    return _PUNCT.sub("", normalize_text(text))
