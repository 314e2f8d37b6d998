"""From a question to what the bot says: retrieve, decide (answer / did-you-mean / hand over), phrase.

The decision is the calibrated policy's (rag/policy.py). Customers who said an entry did not answer their
wording (rag/learning.py `negatives`) get the buttons instead of that answer again. With an LLM, an
ambiguous result is put to it listwise (rag/choose.py: which candidate answers, or none), and answers are
generated from the retrieved passages and self-checked; an LLM that says the context does not answer, or an
ungrounded answer, means hand over. Without an LLM (or when it times out, is rate limited, or the turn's time
budget is spent), the answer is extractive: the FAQ answer or the best passage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import structlog

from config.messages import t
from observability.masking import mask_text
from observability.metrics import ANSWERS
from rag.cache import AnswerCache
from rag.policy import AnswerPolicy, Verdict, family_of
from rag.retrieval import Candidate, RetrievalResult, Retriever

log = structlog.get_logger("rag.answer")

Decision = Literal["answer", "suggest", "escalate"]
TokenSink = Callable[[str], Awaitable[None]]
_RETRIEVE_TOP_K = 10  # the policy compares an entry with its rivals of the same family


@dataclass
class Answer:
    question: str
    text: str
    decision: Decision
    confidence: float  # the policy's probability that the chosen entry is the one meant
    reason: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)  # the did-you-mean buttons' labels
    options: list[dict[str, Any]] = field(default_factory=list)  # the entries behind them (option_of)
    entry: dict[str, Any] | None = None  # the entry a direct answer came from (option_of)
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


def option_label(cand: Candidate, max_chars: int = 40) -> str:
    """A button's text: the FAQ question, or where a passage stands and how it begins."""
    hit = cand.hit
    if cand.is_faq and hit.question:
        return hit.question
    where = " > ".join(x for x in (hit.title, hit.heading_path) if x)
    lead = " ".join(hit.text.split())
    lead = lead if len(lead) <= max_chars else lead[: max_chars - 1] + "…"
    return f"{where}：{lead}" if where else lead


def option_of(cand: Candidate) -> dict[str, Any]:
    """Everything needed to answer with this entry later (a click) or to learn a phrasing for it."""
    hit = cand.hit
    return {"key": cand.key, "label": option_label(cand), "source_id": hit.source_id, "block_id": hit.block_id,
            "chunk_id": hit.id, "knowledge_type": hit.knowledge_type, "question": hit.question}


def extractive_text(cand: Candidate, language: str) -> str:
    hit = cand.hit
    if hit.answer:
        return hit.answer
    where = " > ".join(x for x in (hit.title, hit.heading_path) if x)
    return t("extractive_passage", language, where=where or hit.source_id, text=hit.text)


class Answerer:
    def __init__(self, retriever: Retriever, *, policy: AnswerPolicy | None = None, cache: AnswerCache | None = None,
                 generator=None, chooser=None, learning=None, language: str = "zh-CN",
                 top_k: int = _RETRIEVE_TOP_K) -> None:
        self.retriever = retriever
        self.policy = policy or AnswerPolicy()
        self.cache = cache
        self.generator = generator
        self.chooser = chooser  # rag/choose.py ListwiseChooser, with an LLM
        self.learning = learning  # rag/learning.py LearnedPhrasings
        self.language = language
        self.top_k = top_k

    async def answer(self, question: str, *, knowledge_types: Sequence[str] | None = None,
                     use_cache: bool = True, on_token: TokenSink | None = None,
                     deadline: float | None = None) -> Answer:
        """`on_token`: with a streaming LLM, called with each text delta of a generated answer as it arrives
        (the final `Answer.text` is the one to keep: it may differ, or the answer may turn into a hand-over).
        `deadline` (event-loop time): LLM steps past it give way to the extractive answer."""
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
        answer = await self._compose(question, result, on_token, deadline)
        # Per-step latencies reach Prometheus through the turn's trace (observability/traces.py).
        answer.timings_ms = {**result.timings_ms, **answer.timings_ms,
                             "total": round((time.perf_counter() - started) * 1000, 2)}
        ANSWERS.labels(answer.decision).inc()
        log.info("answer.decided", decision=answer.decision, confidence=round(answer.confidence, 4),
                 reason=answer.reason, question=mask_text(question))
        # Answers and retrieval-decided hand-overs are cached (the same question on the same knowledge gets the
        # same decision; learning bumps the knowledge version); an LLM's "no answer" is not, since the model may do
        # better next time.
        cacheable = answer.decision != "escalate" or answer.reason in ("low_confidence", "low_similarity",
                                                                       "no_candidates")
        if use_cache and self.cache is not None and cacheable:
            await self.cache.put(question, {k: v for k, v in answer.to_dict().items() if k != "question"}, scope)
        return answer

    async def judge(self, question: str, candidates: Sequence[Candidate]) -> Verdict:
        """The policy's verdict, less any entry customers said does not answer this wording."""
        verdict = self.policy.judge(question, candidates)
        if verdict.decision == "answer" and self.learning is not None and verdict.chosen is not None:
            disowned = await self.learning.negatives(question)
            if disowned.get(verdict.chosen.key, 0) > 0:  # the other entries, as buttons
                verdict.decision, verdict.reason = "suggest", "disowned"
                verdict.suggestions = [c for c in candidates if c.key not in disowned][: self.policy.suggestions]
        return verdict

    async def _compose(self, question: str, result: RetrievalResult, on_token: TokenSink | None,
                       deadline: float | None) -> Answer:
        candidates = result.candidates
        verdict = await self.judge(question, candidates)
        sources = [source_of(c) for c in candidates[:5]]
        if verdict.decision == "suggest" and self.chooser is not None and _time_left(deadline) > 0.5:
            chosen = await self._choose(question, verdict.suggestions, deadline)
            if chosen == "none":
                return self._handover(question, verdict.probability, "llm_none_fits", sources)
            if chosen is not None:
                verdict = Verdict("answer", verdict.probability, chosen, verdict.family, verdict.suggestions,
                                  verdict.features, "llm_chose")
        if verdict.decision == "escalate" or verdict.chosen is None or (verdict.decision == "suggest"
                                                                         and not verdict.suggestions):
            handover = self._handover(question, verdict.probability, verdict.reason or "low_confidence", sources)
            if verdict.chosen is not None:  # what it would have offered: a conversation may combine readings
                handover.options = [option_of(c) for c in [verdict.chosen, *candidates][: self.policy.suggestions]
                                    if c.dense >= self.policy.min_dense[family_of(c)]]
                handover.options = list({o["key"]: o for o in handover.options}.values())
            return handover
        if verdict.decision == "suggest":
            options = [option_of(c) for c in verdict.suggestions]
            return Answer(question, t("did_you_mean", self.language), "suggest", verdict.probability, verdict.reason,
                          sources, [o["label"] for o in options], options)
        return await self.answer_with(question, verdict.chosen, candidates, confidence=verdict.probability,
                                      on_token=on_token, deadline=deadline)

    async def answer_with(self, question: str, chosen: Candidate, candidates: Sequence[Candidate], *,
                          confidence: float = 1.0, on_token: TokenSink | None = None,
                          deadline: float | None = None) -> Answer:
        """Answer from one entry (the policy's pick, or the one a customer clicked)."""
        ordered = [chosen, *[c for c in candidates if c.key != chosen.key]]
        if self.generator is not None and _time_left(deadline) > 1.0:
            generated = await self._generate(question, ordered, on_token, deadline)
            if generated is not None:
                generated.confidence = confidence
                generated.entry = option_of(chosen) if generated.decision == "answer" else None
                return generated
        return Answer(question, extractive_text(chosen, self.language), "answer", confidence, "extractive",
                      [source_of(chosen)], entry=option_of(chosen))

    def _handover(self, question: str, confidence: float, reason: str, sources: list[dict[str, Any]]) -> Answer:
        return Answer(question, t("handover", self.language), "escalate", confidence, reason, sources)

    async def _choose(self, question: str, candidates: Sequence[Candidate], deadline: float | None
                      ) -> Candidate | Literal["none"] | None:
        try:
            async with asyncio.timeout(_time_left(deadline)):
                return await self.chooser.choose(question, candidates)
        except Exception as exc:  # a slow, failing or rambling model leaves the buttons as they are
            log.warning("answer.choose_failed", error=type(exc).__name__)
            return None

    async def _generate(self, question: str, candidates: Sequence[Candidate], on_token: TokenSink | None,
                        deadline: float | None) -> Answer | None:
        """LLM answer, or None to fall back to the extractive one (LLM down, slow, rate limited, out of time)."""
        from rag.generate import GeneratedAnswer, LLMUnavailable

        passages = [source_of(c) | {"id": c.hit.id, "text": c.hit.text} for c in candidates[:5]]
        started = time.perf_counter()
        timings: dict[str, float] = {}
        try:
            async with asyncio.timeout(_time_left(deadline)):
                if on_token is None:
                    generated = await self.generator.generate(question, passages)
                else:
                    generated = None
                    async for item in self.generator.stream(question, passages):
                        if isinstance(item, GeneratedAnswer):
                            generated = item
                        else:
                            timings.setdefault("stream_first_token",
                                               round((time.perf_counter() - started) * 1000, 2))
                            await on_token(item)
            if generated is None:
                raise LLMUnavailable("the stream ended without an answer")
        except (LLMUnavailable, TimeoutError) as exc:
            log.warning("answer.llm_unavailable", error=str(exc) or type(exc).__name__)
            return None
        timings["generate"] = round((time.perf_counter() - started) * 1000, 2)
        answer = self._from_generated(question, candidates, generated)
        answer.timings_ms = timings
        return answer

    def _from_generated(self, question: str, candidates: Sequence[Candidate], generated: Any) -> Answer:
        sources = [source_of(c) for c in candidates[:5]]
        cited = [s for s in sources if s["chunk_id"] in set(generated.cited_ids)] or sources[:1]
        if generated.no_answer:
            return Answer(question, t("handover", self.language), "escalate", 0.0, "llm_no_answer", sources,
                          model=generated.model)
        if generated.grounded is False:
            return Answer(question, t("handover", self.language), "escalate", 0.0, "ungrounded", sources,
                          model=generated.model)
        return Answer(question, generated.text, "answer", 0.0, "generated", cited, model=generated.model)


def _time_left(deadline: float | None) -> float:
    if deadline is None:
        return 3600.0
    return deadline - asyncio.get_running_loop().time()
