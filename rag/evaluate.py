"""`larkdesk eval retrieval`: ingest a KB or documents into a temporary store through the real pipeline,
run the queries through the real retriever and answer policy, print hit@k, MRR and no-answer figures."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.answer import AnswerPolicy
from rag.embedders import Embedder
from rag.milvus import MilvusConnection
from rag.retrieval import Candidate, Retriever
from rag.store import KnowledgeStore
from sync.knowledge import KnowledgeBase
from sync.models import ParsedDocument
from sync.versions import VersionRegistry


@dataclass(frozen=True)
class Query:
    text: str
    gold: frozenset[str]  # empty: the knowledge does not cover it


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def kb_documents(path: Path) -> list[ParsedDocument]:
    """The FAQ table through the same parser `larkdesk ingest` uses (block ids are the entry ids)."""
    from sync.parsers import parse_file

    return [parse_file(path, source_id="eval:kb")]


def doc_documents(rows: list[dict[str, Any]]) -> list[ParsedDocument]:
    from sync.parsers import parse_text

    return [parse_text(str(r["text"]), source_id=f"doc:{r['doc_id']}", title=str(r.get("title") or r["doc_id"]),
                       fmt="md") for r in rows]


def read_queries(path: Path) -> list[Query]:
    out = []
    for row in read_jsonl(path):
        if "gold_doc_id" in row:
            gold = row["gold_doc_id"]
            out.append(Query(row["query"], frozenset([f"doc:{gold}"]) if gold else frozenset()))
        else:
            gold = row.get("gold_id")
            ids = [gold, *(row.get("alt_gold_ids") or [])] if gold is not None else []
            out.append(Query(row["query"], frozenset(str(i) for i in ids)))
    return out


def candidate_label(cand: Candidate, mode: str) -> str:
    return cand.hit.block_id if mode == "kb" else cand.hit.source_id


async def evaluate(embedder: Embedder, *, kb: Path | None, docs: Path | None, queries: Path,
                   fusion: str = "weighted", dense_weight: float = 0.9, policy: AnswerPolicy | None = None,
                   concurrency: int = 1, reranker=None) -> dict[str, Any]:
    mode = "kb" if kb else "docs"
    documents = kb_documents(kb) if kb else doc_documents(read_jsonl(docs))  # type: ignore[arg-type]
    policy = policy or AnswerPolicy()
    with tempfile.TemporaryDirectory(prefix="larkdesk-eval-") as tmp:
        connection = MilvusConnection(str(Path(tmp) / "eval.db"))
        store = KnowledgeStore(connection, dim=embedder.dim)
        await store.ensure()
        knowledge = KnowledgeBase(store, embedder, VersionRegistry(tmp))
        started = time.perf_counter()
        for doc in documents:
            await knowledge.ingest_document(doc, register=False, validate_quality=False)
        ingest_s = time.perf_counter() - started
        retriever = Retriever(store, embedder, fusion=fusion, dense_weight=dense_weight,  # type: ignore[arg-type]
                              reranker=reranker)
        items = read_queries(queries)
        results: list[tuple[Query, list[Candidate], float]] = [None] * len(items)  # type: ignore[list-item]
        gate = asyncio.Semaphore(concurrency)

        async def run(i: int, q: Query) -> None:
            async with gate:
                t0 = time.perf_counter()
                res = await retriever.search(q.text, top_k=10)
                results[i] = (q, res.candidates, (time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(run(i, q) for i, q in enumerate(items)))
        await connection.close()
    return summarize(results, mode, policy) | {
        "config": {"embedder": embedder.name, "fusion": fusion, "dense_weight": dense_weight, "mode": mode,
                   "reranker": bool(reranker), "answer_similarity": policy.answer_similarity,
                   "suggest_similarity": policy.suggest_similarity, "chunks": sum(len(d.chunks) for d in documents),
                   "ingest_s": round(ingest_s, 1)}}


def summarize(results: Sequence[tuple[Query, list[Candidate], float]], mode: str,
              policy: AnswerPolicy) -> dict[str, Any]:
    covered = [(q, c) for q, c, _ in results if q.gold]
    uncovered = [(q, c) for q, c, _ in results if not q.gold]

    def rank(q: Query, cands: list[Candidate]) -> int | None:
        labels: list[str] = []
        for cand in cands:
            label = candidate_label(cand, mode)
            if label not in labels:
                labels.append(label)
        return next((i + 1 for i, label in enumerate(labels) if label in q.gold), None)

    ranks = [rank(q, c) for q, c in covered]
    n = len(covered) or 1
    latencies = sorted(ms for _, _, ms in results)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1) if latencies else 0.0

    out: dict[str, Any] = {
        "hit@1": round(sum(1 for r in ranks if r == 1) / n, 4),
        "hit@5": round(sum(1 for r in ranks if r and r <= 5) / n, 4),
        "mrr@10": round(sum(1 / r for r in ranks if r and r <= 10) / n, 4),
        "n": len(results),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
    }
    if uncovered:
        escalated = sum(1 for _, c in uncovered if policy.decide(c)[0] == "escalate")
        wrongly = sum(1 for _, c in covered if policy.decide(c)[0] == "escalate")
        out["no_answer_recall"] = round(escalated / len(uncovered), 4)
        out["false_no_answer"] = round(wrongly / n, 4)
        out["n_no_answer"] = len(uncovered)
    return out
