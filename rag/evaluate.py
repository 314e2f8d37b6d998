"""`larkdesk eval retrieval` and `larkdesk eval learning`: what customers get, measured on a query set.

Both ingest an FAQ table (`--kb`) and/or documents (`--docs`) into a temporary store through the real
pipeline, run every query through the real retriever and the bot's own answer policy, and print one JSON
object. Shares are of the answerable (covered) queries unless named `oov_*` (queries the knowledge does not
cover): `answered_right`, `answered_wrong`, `suggested_with_gold` (the right entry among the did-you-mean
buttons), `suggested_without_gold`, `handed_over`, `answer_precision` (right among direct answers),
`oov_answered`, `oov_suggested`, `oov_handed_over`; hit@k and MRR rank entries the way the bot does (the
policy's pick first). With both `--kb` and `--docs`, `per_type` splits the covered figures by the gold's type.

`eval learning` splits the queries (seeded) into a train and a test share, measures the test share, replays
the train share as customers who click the right suggestion when it is offered and otherwise reach an agent
who picks the right entry (a customer told a wrong answer also says "not helpful"), then measures the test
share again with what was learned.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer import Answerer
from rag.embedders import Embedder
from rag.learning import EntryRef, LearnedPhrasings
from rag.milvus import MilvusConnection
from rag.policy import AnswerPolicy, Verdict
from rag.retrieval import Candidate, Retriever, entry_key
from rag.store import KnowledgeStore, StoredHit
from sync.knowledge import KnowledgeBase
from sync.models import ParsedDocument
from sync.versions import VersionRegistry

KB_SOURCE = "eval:kb"
DOC_PREFIX = "doc:"


@dataclass(frozen=True)
class Query:
    text: str
    gold: frozenset[str]  # entry labels (FAQ ids, or doc:<id>); empty: the knowledge does not cover it

    @property
    def gold_type(self) -> str:
        return "doc" if self.gold and all(g.startswith(DOC_PREFIX) for g in self.gold) else "faq"


@dataclass
class Judged:
    query: Query
    verdict: Verdict
    ranked: list[Candidate]
    ms: float = 0.0


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def kb_documents(path: Path) -> list[ParsedDocument]:
    """The FAQ table through the same parser `larkdesk ingest` uses (block ids are the entry ids)."""
    from sync.parsers import parse_file

    return [parse_file(path, source_id=KB_SOURCE)]


def doc_documents(rows: list[dict[str, Any]]) -> list[ParsedDocument]:
    from sync.parsers import parse_text

    return [parse_text(str(r["text"]), source_id=f"{DOC_PREFIX}{r['doc_id']}", title=str(r.get("title") or ""),
                       fmt="md") for r in rows]


def read_queries(path: Path) -> list[Query]:
    out = []
    for row in read_jsonl(path):
        if "gold_doc_id" in row:
            gold = row["gold_doc_id"]
            ids = [gold, *(row.get("alt_gold_doc_ids") or [])] if gold else []
            out.append(Query(row["query"], frozenset(f"{DOC_PREFIX}{i}" for i in ids)))
        else:
            gold = row.get("gold_id")
            ids = [gold, *(row.get("alt_gold_ids") or [])] if gold is not None else []
            out.append(Query(row["query"], frozenset(str(i) for i in ids)))
    return out


def label(cand: Candidate) -> str:
    """What a gold id names: an FAQ entry by its id, a document by its source."""
    return cand.hit.block_id if cand.hit.source_id == KB_SOURCE else cand.hit.source_id


# -- measuring ---------------------------------------------------------------------------------------------

def _rank(query: Query, ranked: Sequence[Candidate]) -> int | None:
    labels: list[str] = []
    for cand in ranked:
        if label(cand) not in labels:
            labels.append(label(cand))
    return next((i + 1 for i, lab in enumerate(labels) if lab in query.gold), None)


def outcome(judged: Judged) -> str:
    """answered_right / answered_wrong / suggested_with_gold / suggested_without_gold / handed_over."""
    verdict, gold = judged.verdict, judged.query.gold
    if verdict.decision == "answer":
        return "answered_right" if verdict.chosen is not None and label(verdict.chosen) in gold else "answered_wrong"
    if verdict.decision == "suggest":
        hit = any(label(c) in gold for c in verdict.suggestions)
        return "suggested_with_gold" if hit else "suggested_without_gold"
    return "handed_over"


_OUTCOMES = ("answered_right", "answered_wrong", "suggested_with_gold", "suggested_without_gold", "handed_over")


def _covered_figures(items: Sequence[Judged]) -> dict[str, Any]:
    n = len(items) or 1
    ranks = [_rank(j.query, j.ranked) for j in items]
    counts = {k: 0 for k in _OUTCOMES}
    for j in items:
        counts[outcome(j)] += 1
    answered = counts["answered_right"] + counts["answered_wrong"]
    return {
        "n_covered": len(items),
        "hit@1": round(sum(1 for r in ranks if r == 1) / n, 4),
        "hit@5": round(sum(1 for r in ranks if r and r <= 5) / n, 4),
        "mrr@10": round(sum(1 / r for r in ranks if r and r <= 10) / n, 4),
        **{k: round(v / n, 4) for k, v in counts.items()},
        "answer_precision": round(counts["answered_right"] / answered, 4) if answered else None,
    }


def summarize(judged: Sequence[Judged]) -> dict[str, Any]:
    covered = [j for j in judged if j.query.gold]
    uncovered = [j for j in judged if not j.query.gold]
    out = _covered_figures(covered)
    if uncovered:
        m = len(uncovered)
        decisions = [j.verdict.decision for j in uncovered]
        out.update({"n_oov": m, "oov_answered": round(decisions.count("answer") / m, 4),
                    "oov_suggested": round(decisions.count("suggest") / m, 4),
                    "oov_handed_over": round(decisions.count("escalate") / m, 4)})
    types = {j.query.gold_type for j in covered}
    if len(types) > 1:
        out["per_type"] = {t: _covered_figures([j for j in covered if j.query.gold_type == t]) for t in sorted(types)}
    latencies = sorted(j.ms for j in judged)
    if latencies:
        out["p50_ms"] = round(latencies[len(latencies) // 2], 1)
        out["p99_ms"] = round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1)
    out["n"] = len(judged)
    return out


# -- running -------------------------------------------------------------------------------------------

class EvalKnowledge:
    """A temporary store holding the KB and/or documents, and the bot's retriever and answerer over it."""

    def __init__(self, embedder: Embedder, tmp: str, *, fusion: str, dense_weight: float,
                 policy: AnswerPolicy, reranker=None) -> None:
        self.embedder = embedder
        self.connection = MilvusConnection(str(Path(tmp) / "eval.db"))
        self.store = KnowledgeStore(self.connection, dim=embedder.dim)
        self.knowledge = KnowledgeBase(self.store, embedder, VersionRegistry(tmp))
        self.retriever = Retriever(self.store, embedder, fusion=fusion, dense_weight=dense_weight,  # type: ignore[arg-type]
                                   reranker=reranker)
        self.answerer = Answerer(self.retriever, policy=policy)
        self._vectors: dict[str, np.ndarray] = {}

    async def load(self, kb: Path | None, docs: Path | None) -> dict[str, Any]:
        await self.store.ensure()
        documents = (kb_documents(kb) if kb else []) + (doc_documents(read_jsonl(docs)) if docs else [])
        started = time.perf_counter()
        for doc in documents:
            await self.knowledge.ingest_document(doc, register=False, validate_quality=False)
        return {"chunks": sum(len(d.chunks) for d in documents), "ingest_s": round(time.perf_counter() - started, 1)}

    async def embed(self, queries: Sequence[Query]) -> None:
        """Query vectors once, in batches (each query is searched again after learning)."""
        todo = list(dict.fromkeys(q.text for q in queries if q.text not in self._vectors))
        for start in range(0, len(todo), 64):
            batch = todo[start:start + 64]
            vectors = await asyncio.to_thread(self.embedder.embed_queries, batch)
            self._vectors.update(zip(batch, vectors, strict=True))

    def vector(self, text: str) -> np.ndarray:
        """The query vector `embed` computed for `text`."""
        return self._vectors[text]

    async def judge(self, queries: Sequence[Query], concurrency: int = 4) -> list[Judged]:
        await self.embed(queries)
        gate = asyncio.Semaphore(concurrency)
        out: list[Judged] = [None] * len(queries)  # type: ignore[list-item]

        async def one(i: int, q: Query) -> None:
            async with gate:
                started = time.perf_counter()
                result = await self.retriever.search(q.text, top_k=self.answerer.top_k, vector=self.vector(q.text))
                verdict = await self.answerer.judge(q.text, result.candidates)
                ranked = [verdict.chosen, *[c for c in result.candidates if c is not verdict.chosen]] \
                    if verdict.chosen is not None else list(result.candidates)
                out[i] = Judged(q, verdict, ranked, (time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one(i, q) for i, q in enumerate(queries)))
        return out

    async def gold_entry(self, query: Query) -> EntryRef | None:
        """The entry an agent would pick for `query`: its stored row, read from the store."""
        gold = sorted(query.gold)[0]
        if gold.startswith(DOC_PREFIX):
            hits = await self.store.get(list((await self.store.chunk_ids(gold)).keys())[:1])
        else:
            hits = await self.store.entry_rows([(KB_SOURCE, gold, "")])
        if not hits:
            return None
        hit: StoredHit = hits[0]
        return EntryRef.of(Candidate(entry_key(hit), hit))

    async def close(self) -> None:
        await self.connection.close()


def _config(embedder: Embedder, fusion: str, dense_weight: float, policy: AnswerPolicy, reranker: Any,
            loaded: dict[str, Any]) -> dict[str, Any]:
    return {"embedder": embedder.name, "fusion": fusion, "dense_weight": dense_weight, "reranker": bool(reranker),
            "answer_probability": policy.answer_probability, "suggest_probability": policy.suggest_probability,
            "suggestions": policy.suggestions, **loaded}


async def evaluate(embedder: Embedder, *, kb: Path | None, docs: Path | None, queries: Path,
                   fusion: str = "weighted", dense_weight: float = 0.9, policy: AnswerPolicy | None = None,
                   concurrency: int = 4, reranker=None) -> dict[str, Any]:
    policy = policy or AnswerPolicy()
    with tempfile.TemporaryDirectory(prefix="larkdesk-eval-") as tmp:
        ek = EvalKnowledge(embedder, tmp, fusion=fusion, dense_weight=dense_weight, policy=policy, reranker=reranker)
        try:
            loaded = await ek.load(kb, docs)
            judged = await ek.judge(read_queries(queries), concurrency)
        finally:
            await ek.close()
    return summarize(judged) | {"config": _config(embedder, fusion, dense_weight, policy, reranker, loaded)}


def split_train_test(queries: Sequence[Query], train_share: float, seed: int) -> tuple[list[Query], list[Query]]:
    rng = random.Random(seed)
    train: list[Query] = []
    test: list[Query] = []
    for covered in (True, False):
        part = [q for q in queries if bool(q.gold) == covered]
        rng.shuffle(part)
        cut = round(len(part) * train_share)
        train += part[:cut]
        test += part[cut:]
    return train, test


async def replay(ek: EvalKnowledge, learning: LearnedPhrasings, train: Sequence[Query]) -> dict[str, int]:
    """Customers of the train share: they click the right button when offered; otherwise (a wrong answer,
    buttons without it, a hand-over) an agent picks the right entry, and a customer given a wrong answer says
    "not helpful". Each query is its own customer."""
    counts = {"clicks": 0, "agent_picks": 0, "not_helpful": 0, "answered_right": 0}
    covered = [q for q in train if q.gold]
    await ek.embed(covered)
    for i, query in enumerate(covered):  # one after another: a later customer meets what earlier ones taught
        [judged] = await ek.judge([query], concurrency=1)
        customer = f"eval-customer-{i}"
        kind = outcome(judged)
        if kind == "answered_right":
            counts["answered_right"] += 1
            continue
        if kind == "suggested_with_gold":
            clicked = next(c for c in judged.verdict.suggestions if label(c) in judged.query.gold)
            await learning.signal(judged.query.text, EntryRef.of(clicked), "click", customer, customer=customer)
            counts["clicks"] += 1
            continue
        if kind == "answered_wrong" and judged.verdict.chosen is not None:
            await learning.signal(judged.query.text, EntryRef.of(judged.verdict.chosen), "not_helpful", customer,
                                  customer=customer)
            counts["not_helpful"] += 1
        gold = await ek.gold_entry(judged.query)
        if gold is not None:
            await learning.signal(judged.query.text, gold, "agent", f"eval-agent-{i % 7}", customer=customer)
            counts["agent_picks"] += 1
    return counts


async def evaluate_learning(embedder: Embedder, *, kb: Path | None, docs: Path | None, queries: Path,
                            train_share: float = 0.5, seed: int = 20261129, fusion: str = "weighted",
                            dense_weight: float = 0.9, policy: AnswerPolicy | None = None,
                            auto_approve: int = 1) -> dict[str, Any]:
    import fakeredis

    policy = policy or AnswerPolicy()
    started = time.perf_counter()
    train, test = split_train_test(read_queries(queries), train_share, seed)
    with tempfile.TemporaryDirectory(prefix="larkdesk-eval-") as tmp:
        ek = EvalKnowledge(embedder, tmp, fusion=fusion, dense_weight=dense_weight, policy=policy)
        redis = fakeredis.FakeAsyncRedis()
        learning = LearnedPhrasings(redis, ek.store, embedder, auto_approve=auto_approve,
                                    max_new_per_customer_day=10**6)
        ek.answerer.learning = learning
        try:
            loaded = await ek.load(kb, docs)
            before = summarize(await ek.judge(test))
            counts = await replay(ek, learning, train)
            after = summarize(await ek.judge(test))
            active = len(await learning.list("active", limit=10**6))
        finally:
            await ek.close()
            await redis.aclose()
    keys = ("hit@1", "hit@5", "answered_right", "answered_wrong", "suggested_with_gold", "handed_over",
            "answer_precision", "oov_answered")
    out: dict[str, Any] = {}
    for key in keys:
        if key in before:
            out[f"{key}_before"] = before[key]
            out[f"{key}_after"] = after.get(key)
    return out | {"train_queries": len(train), "test_queries": len(test), "learned_active": active, **counts,
                  "seconds": round(time.perf_counter() - started, 1),
                  "config": _config(embedder, fusion, dense_weight, policy, None, loaded)}
