"""Evidence that a retrieved entry answers the question, beyond its dense similarity.

Dense similarity alone cannot tell "花呗怎么还款" from "借呗怎么还款": both sit at 0.95 with a small e5 model.
What tells them apart is lexical: whether the query's key terms (products, amounts, places, time limits) are
in the entry, and whether the lexical channel agrees with the dense one. These features feed the calibrated
answer policy (rag/policy.py); they are cheap (one jieba cut of the query, set operations per candidate).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import jieba

from rag.normalize import normalize_text

# Words that carry no topic: question words, politeness, pronouns, fillers. Key terms are what is left.
_FUNCTION_WORDS = frozenset("""
的 了 是 在 和 与 及 或 吗 呢 吧 啊 呀 哦 嗯 么 之 其 我 你 您 他 她 它 我们
你们 他们 这 那 这个 那个 就 都 也 还 把 被 请问 一下 怎么 怎么样 如何 什么 为什么
为啥 怎样 咋 啥 哪 哪里 哪儿 哪个 多少 几 能 能否 可以 可不可以 是否 有没有 有 没有
没 不 要 想 需要 会 我的 你的 请 麻烦 谢谢 你好 您好 亲 一个 个 嘛 啦 过 着
得 地 又 再 才 已经 现在 就是 但是 可是 然后 因为 所以 如果 那么 这样 那样 这么
一直 还是 而且 或者 怎么办 办 下 上 里 中 后 前 时候 时 时间 为 给 让 对 从 到
用 跟 向 去 来 做 弄 搞 说 问 看 知道 应该 一般 所有 自己 之前 以后 之后 目前
今天 刚才 刚刚 a an the of to and or is are in on for be
do does did can could how what why when where
which i my you your it this that please
""".split())
_PUNCT = re.compile(r"[\s!-/:-@\[-`{-~。，、；：？！…—·“”‘’《》〈〉【】（）「」『』〔〕*]+")
_SPECIFIC = re.compile(r"\d|[a-z]{2,}")  # numbers, amounts, model names, latin product names


@lru_cache(maxsize=65536)
def key_terms(text: str) -> frozenset[str]:
    """The content words of a text: normalized (width, numbers, synonyms), cut by jieba, function words off."""
    cut = jieba.lcut(_PUNCT.sub(" ", normalize_text(text)))
    return frozenset(w for w in (t.strip() for t in cut) if w and w not in _FUNCTION_WORDS)


def _chars(terms: Iterable[str]) -> set[str]:
    return {c for t in terms for c in t}


def term_in(term: str, terms: frozenset[str], text: str) -> bool:
    """A query term counts as present when the entry has it as a word or as a substring of its text
    (jieba cuts 退货运费 and 运费 differently)."""
    return term in terms or term in text


@dataclass(frozen=True)
class Overlap:
    query_cover: float  # share of the query's key terms present in the entry
    entry_cover: float  # share of the entry's key terms present in the query (FAQ questions only)
    missing_specific: int  # query terms with digits or latin letters (amounts, models) absent from the entry
    char_cover: float  # share of the query's key-term characters found in the entry's text


def overlap(query: str, entry_text: str, *, entry_is_question: bool) -> Overlap:
    q_terms = key_terms(query)
    e_norm = normalize_text(entry_text)
    e_terms = key_terms(entry_text) if entry_is_question else frozenset()
    if not q_terms:
        return Overlap(0.0, 0.0, 0, 0.0)
    present = [t for t in q_terms if term_in(t, e_terms, e_norm)]
    missing_specific = sum(1 for t in q_terms if _SPECIFIC.search(t) and t not in present)
    q_chars = _chars(q_terms)
    e_chars = set(e_norm)
    char_cover = len(q_chars & e_chars) / len(q_chars) if q_chars else 0.0
    entry_cover = 0.0
    if e_terms:
        q_norm = normalize_text(query)
        entry_cover = sum(1 for t in e_terms if term_in(t, q_terms, q_norm)) / len(e_terms)
    return Overlap(len(present) / len(q_terms), entry_cover, missing_specific, char_cover)
