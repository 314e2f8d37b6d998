"""From a question to what the bot says: retrieve, decide (answer / did-you-mean / hand over), phrase.

The decision uses calibrated thresholds on the best entry's dense similarity and its margin over the next
entry (`AnswerPolicy`). With an LLM, the answer is generated from the retrieved passages and self-checked;
an LLM that says the context does not answer, or an ungrounded answer, means hand over. Without an LLM (or
when it times out or is rate limited), the answer is extractive: the FAQ answer or the best passage.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import structlog

from config.messages import t
from observability.masking import mask_text
from observability.metrics import ANSWERS
from rag.cache import AnswerCache
from rag.retrieval import Candidate, RetrievalResult, Retriever

log = structlog.get_logger("rag.answer")

Decision = Literal["answer", "suggest", "escalate"]
TokenSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class AnswerPolicy:
    """Thresholds calibrated with `larkdesk eval retrieval` on the development set (benchmarks/data)."""

    # An FAQ hit compares a question with questions (both embedded as queries): similarities run high.
    answer_similarity: float = 0.92  # best FAQ's dense similarity to answer outright
    suggest_similarity: float = 0.90  # below this: hand over to a human
    min_margin: float = 0.01  # top FAQ closer than this to a different FAQ: ask which one was meant
    # A document passage compares a question with prose: a lower scale (policy set: 0.85 keeps 35 % of
    # uncovered questions away from an answer while wrongly handing over 4.5 % of covered ones).
    passage_similarity: float = 0.85
    suggestions: int = 3

    def decide(self, candidates: Sequence[Candidate]) -> tuple[Decision, float]:
        if not candidates:
            return "escalate", 0.0
        top = candidates[0]
        confidence = top.dense
        if not top.is_faq:
            return ("answer" if confidence >= self.passage_similarity else "escalate"), confidence
        if confidence < self.suggest_similarity:
            return "escalate", confidence
        if confidence < self.answer_similarity:
            return "suggest", confidence
        rivals = [c for c in candidates[1:] if c.is_faq and c.key != top.key]
        if top.is_faq and rivals and top.dense - rivals[0].dense < self.min_margin:
            return "suggest", confidence
        return "answer", confidence


@dataclass
class Answer:
    question: str
    text: str
    decision: Decision
    confidence: float
    reason: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    model: str = ""
    cached: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def escalate(self) -> bool:
        return self.decision == "escalate"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_of(cand: Candidate) -> dict[str, Any]:
    hit = cand.hit
    return {"chunk_id": hit.id, "source_id": hit.source_id, "title": hit.title, "headings": hit.heading_path,
            "knowledge_type": hit.knowledge_type, "score": round(cand.score, 4), "dense": round(cand.dense, 4),
            "content": hit.answer or hit.text}


def extractive_text(cand: Candidate, language: str) -> str:
    hit = cand.hit
    if hit.answer:
        return hit.answer
    where = " > ".join(x for x in (hit.title, hit.heading_path) if x)
    return t("extractive_passage", language, where=where or hit.source_id, text=hit.text)


class Answerer:
    def __init__(self, retriever: Retriever, *, policy: AnswerPolicy | None = None, cache: AnswerCache | None = None,
                 generator=None, language: str = "zh-CN", top_k: int = 5) -> None:
        self.retriever = retriever
        self.policy = policy or AnswerPolicy()
        self.cache = cache
        self.generator = generator
        self.language = language
        self.top_k = top_k

    async def answer(self, question: str, *, knowledge_types: Sequence[str] | None = None,
                     use_cache: bool = True, on_token: TokenSink | None = None) -> Answer:
        """`on_token`: with a streaming LLM, called with each text delta of a generated answer as it arrives
        (the final `Answer.text` is the one to keep: it may differ, or the answer may turn into a hand-over)."""
        scope = f"{self.language}|{','.join(sorted(knowledge_types or []))}"
        if use_cache and self.cache is not None:
            started = time.perf_counter()
            cached = await self.cache.get(question, scope)
            if cached is not None:
                lookup_ms = round((time.perf_counter() - started) * 1000, 2)
                # Its own timing, not that of the turn that computed it once.
                return Answer(**{**cached, "question": question, "cached": True, "timings_ms": {"total": lookup_ms}})
        started = time.perf_counter()
        result = await self.retriever.search(question, top_k=self.top_k, knowledge_types=knowledge_types)
        answer = await self._compose(question, result, on_token)
        # Per-step latencies reach Prometheus through the turn's trace (observability/traces.py).
        answer.timings_ms = {**result.timings_ms, **answer.timings_ms,
                             "total": round((time.perf_counter() - started) * 1000, 2)}
        ANSWERS.labels(answer.decision).inc()
        log.info("answer.decided", decision=answer.decision, confidence=round(answer.confidence, 4),
                 reason=answer.reason, question=mask_text(question))
        # Retrieval-decided hand-overs are cached too (the same question on the same knowledge gets the same
        # decision); an LLM's "no answer" is not, since the model may do better next time.
        cacheable = answer.decision != "escalate" or answer.reason == "low_similarity"
        if use_cache and self.cache is not None and cacheable:
            await self.cache.put(question, {k: v for k, v in answer.to_dict().items() if k != "question"}, scope)
        return answer

    async def _compose(self, question: str, result: RetrievalResult, on_token: TokenSink | None = None) -> Answer:
        candidates = result.candidates
        decision, confidence = self.policy.decide(candidates)
        sources = [source_of(c) for c in candidates]
        if decision == "escalate":
            return Answer(question, t("handover", self.language), "escalate", confidence, "low_similarity",
                          sources)
        if decision == "suggest":
            suggestions = self._suggestions(candidates)
            if suggestions:
                return Answer(question, t("did_you_mean", self.language), "suggest", confidence, "ambiguous",
                              sources, suggestions)
            return Answer(question, t("handover", self.language), "escalate", confidence, "low_similarity", sources)
        if self.generator is not None:
            generated = await self._generate(question, candidates, on_token)
            if generated is not None:
                return generated
        return Answer(question, extractive_text(candidates[0], self.language), "answer", confidence, "extractive",
                      sources[:3])

    def _suggestions(self, candidates: Sequence[Candidate]) -> list[str]:
        out: list[str] = []
        for cand in candidates:
            if cand.is_faq and cand.hit.question and cand.hit.question not in out:
                out.append(cand.hit.question)
        return out[: self.policy.suggestions]

    async def _generate(self, question: str, candidates: Sequence[Candidate],
                        on_token: TokenSink | None = None) -> Answer | None:
        """LLM answer, or None to fall back to the extractive one (LLM down, slow or rate limited)."""
        from rag.generate import GeneratedAnswer, LLMUnavailable

        passages = [source_of(c) | {"id": c.hit.id, "text": c.hit.text} for c in candidates]
        started = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            if on_token is None:
                generated = await self.generator.generate(question, passages)
            else:
                generated = None
                async for item in self.generator.stream(question, passages):
                    if isinstance(item, GeneratedAnswer):
                        generated = item
                    else:
                        timings.setdefault("stream_first_token", round((time.perf_counter() - started) * 1000, 2))
                        await on_token(item)
                assert generated is not None
        except LLMUnavailable as exc:
            log.warning("answer.llm_unavailable", error=str(exc))
            return None
        timings["generate"] = round((time.perf_counter() - started) * 1000, 2)
        answer = self._from_generated(question, candidates, generated)
        answer.timings_ms = timings
        return answer

    def _from_generated(self, question: str, candidates: Sequence[Candidate], generated: Any) -> Answer:
        sources = [source_of(c) for c in candidates]
        cited = [s for s in sources if s["chunk_id"] in set(generated.cited_ids)] or sources[:1]
        if generated.no_answer:
            return Answer(question, t("handover", self.language), "escalate", candidates[0].dense, "llm_no_answer",
                          sources, model=generated.model)
        if generated.grounded is False:
            return Answer(question, t("handover", self.language), "escalate", candidates[0].dense, "ungrounded",
                          sources, model=generated.model)
        return Answer(question, generated.text, "answer", candidates[0].dense, "generated", cited,
                      model=generated.model)
