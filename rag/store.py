"""The knowledge store: chunks with a dense vector and BM25 (jieba) full-text search in one Milvus collection.

Works the same on a Milvus Lite file and on a Milvus server. Every pymilvus call runs in a thread through
`MilvusConnection.run` (bounded by a timeout, failures mapped to `StoreUnavailable` / `StoreError`). Writes
are serialized (concurrent writers are unsafe on Milvus Lite) and flushed per batch (unflushed rows make
search several times slower).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import structlog
from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker, WeightedRanker

from rag.milvus import MilvusConnection, StoreError, StoreUnavailable
from rag.normalize import normalize_text
from sync.models import Chunk

log = structlog.get_logger("rag.store")

__all__ = ["DEFAULT_STOP_WORDS", "KnowledgeStore", "StoreError", "StoreUnavailable", "StoredHit"]

# VARCHAR limits in bytes: a Milvus server counts UTF-8 bytes (Milvus Lite counts characters), so fitting
# by bytes is safe on both. A Chinese character is 3 bytes: `text` holds ~21k of them.
MAX_BYTES = {
    "id": 64,
    "source_id": 512,
    "block_id": 256,
    "knowledge_type": 32,
    "title": 1024,
    "headings": 2048,
    "text": 65535,
    "question": 4096,
    "answer": 65535,
    "search_text": 65535,
}
_METADATA_MAX_BYTES = 65536  # Milvus' default JSON field limit
_ORIGINAL_SEARCH_TEXT_BYTES = 16384
_RESERVED = "_larkdesk"  # metadata key holding what `Chunk` needs back and the schema has no column for
_OUTPUT_FIELDS = ["id", "source_id", "block_id", "knowledge_type", "version", "title", "headings", "text",
                  "question", "answer", "position", "metadata"]
_LEARNED_PLACEHOLDER = {0: 1e-6}  # Milvus rejects empty sparse rows; token 0 (<s>) never carries weight
_WRITE_BATCH = 256
_QUERY_LIMIT = 16384  # a Milvus server's cap on offset + limit
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")

Fusion = Literal["rrf", "weighted"]

# Tokens that match most documents: they add nothing to BM25 ranking, and on Milvus Lite (pure-Python posting
# lists) a token in every row costs a full scan per query. jieba keeps punctuation as tokens, so it is here too.
DEFAULT_STOP_WORDS: tuple[str, ...] = (
    *"，。、；：？！…—·“”‘’（）《》【】「」『』,.;:?!()[]{}<>\"'`~@#$%^&*-_=+|/",
    "的", "了", "是", "在", "和", "与", "及", "或", "吗", "呢", "吧", "啊", "呀", "哦", "嗯", "么", "之", "其",
    "我", "你", "您", "他", "她", "它", "我们", "你们", "他们", "这", "那", "这个", "那个", "就", "都", "也",
    "还", "把", "被", "请问", "一下", "怎么", "怎么样", "如何", "什么", "为什么", "怎样",
    "a", "an", "the", "of", "to", "and", "or", "is", "are", "in", "on", "for",
)


def fit_bytes(value: str, max_bytes: int) -> str:
    """Cut `value` to at most `max_bytes` UTF-8 bytes without splitting a character."""
    encoded = value.encode("utf-8")
    if len(encoded) <= max_bytes:
        return value
    return encoded[:max_bytes].decode("utf-8", "ignore")


def quote(value: str) -> str:
    """A Milvus filter string literal: values come from documents and users, never trust them raw."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def in_filter(field_name: str, values: Iterable[str]) -> str:
    return f"{field_name} in [{', '.join(quote(v) for v in values)}]"


def bm25_input(chunk: Chunk) -> str:
    """What BM25 indexes: everything a user might phrase a question with, FAQ similar questions included.

    Normalized like queries are (width, numbers, synonyms), so 快递 in a question meets 物流 in a document."""
    parts: list[str] = []
    for part in (chunk.title, chunk.heading_path, chunk.question, chunk.search_text, chunk.text):
        if part and part not in parts:
            parts.append(part)
    return normalize_text("\n".join(parts))


@dataclass(frozen=True)
class StoredHit:
    """A stored chunk, as search (or `get`) returns it. `score`: higher is better, for every search kind."""

    id: str
    score: float
    source_id: str
    text: str
    knowledge_type: str = "doc"
    block_id: str = ""
    headings: tuple[str, ...] = ()
    title: str = ""
    search_text: str = ""
    question: str = ""
    answer: str = ""
    position: int = 0
    version: int = 0
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def heading_path(self) -> str:
        return " > ".join(h for h in self.headings if h)

    def chunk(self) -> Chunk:
        return Chunk(source_id=self.source_id, text=self.text, knowledge_type=self.knowledge_type,
                     block_id=self.block_id, headings=self.headings, title=self.title,
                     search_text=self.search_text, question=self.question, answer=self.answer,
                     position=self.position, metadata=dict(self.metadata))

    @classmethod
    def from_entity(cls, entity: dict[str, Any], pk: str, score: float) -> StoredHit:
        metadata = dict(entity.get("metadata") or {})
        extra = metadata.pop(_RESERVED, None) or {}
        headings_joined = entity.get("headings") or ""
        headings = tuple(extra.get("headings") or (headings_joined.split(" > ") if headings_joined else ()))
        return cls(
            id=str(pk), score=float(score), source_id=entity.get("source_id", ""), text=entity.get("text", ""),
            knowledge_type=entity.get("knowledge_type", ""), block_id=entity.get("block_id", ""),
            headings=headings, title=entity.get("title", ""), search_text=extra.get("search_text", ""),
            question=entity.get("question", ""), answer=entity.get("answer", ""),
            position=int(entity.get("position") or 0), version=int(entity.get("version") or 0),
            metadata=metadata,
        )


class KnowledgeStore:
    def __init__(self, connection: MilvusConnection, *, collection: str = "larkdesk_chunks", dim: int = 384,
                 learned_sparse: bool = False, stop_words: Sequence[str] = DEFAULT_STOP_WORDS,
                 write_timeout_s: float = 120.0) -> None:
        if not _NAME_RE.match(collection):
            raise ValueError(f"invalid Milvus collection name: {collection!r}")
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.connection = connection
        self.collection = collection
        self.dim = dim
        self.learned_sparse = learned_sparse
        self.stop_words = list(dict.fromkeys(stop_words))  # used when the collection is created
        self.write_timeout_s = write_timeout_s
        self._ready = False
        self._ensure_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def ensure(self) -> None:
        """Create the collection if missing, else check it matches and load it. Idempotent."""
        if self._ready:
            return
        async with self._ensure_lock:
            if self._ready:
                return
            timeout = self.write_timeout_s
            exists = await self._run(lambda c: c.has_collection(self.collection, timeout=timeout))
            if not exists:
                await self._run(self._create, timeout_s=timeout)
                log.info("store.collection_created", collection=self.collection, dim=self.dim,
                         learned_sparse=self.learned_sparse)
            else:
                description = await self._run(lambda c: c.describe_collection(self.collection, timeout=timeout))
                self._check_schema(description)
                await self._run(lambda c: c.load_collection(self.collection, timeout=timeout), timeout_s=timeout)
            self._ready = True

    async def drop(self) -> None:
        async with self._write_lock:
            timeout = self.write_timeout_s
            if await self._run(lambda c: c.has_collection(self.collection, timeout=timeout)):
                await self._run(lambda c: c.drop_collection(self.collection, timeout=timeout), timeout_s=timeout)
            self._ready = False

    def _create(self, client: MilvusClient) -> None:
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=MAX_BYTES["id"])
        for name in ("source_id", "block_id", "knowledge_type", "title", "headings", "text", "question", "answer"):
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_BYTES[name])
        analyzer: dict[str, Any] = {"tokenizer": "jieba"}
        if self.stop_words:
            analyzer["filter"] = [{"type": "stop", "stop_words": self.stop_words}]
        schema.add_field("search_text", DataType.VARCHAR, max_length=MAX_BYTES["search_text"],
                         enable_analyzer=True, analyzer_params=analyzer)
        schema.add_field("version", DataType.INT64)
        schema.add_field("position", DataType.INT64)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
        if self.learned_sparse:
            schema.add_field("learned", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("metadata", DataType.JSON)
        schema.add_function(Function(name="search_text_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["search_text"], output_field_names=["bm25"]))
        index = client.prepare_index_params()
        index.add_index("dense", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 200})
        index.add_index("bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        if self.learned_sparse:
            index.add_index("learned", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        for name in ("source_id", "knowledge_type"):
            index.add_index(name, index_type="INVERTED")
        client.create_collection(self.collection, schema=schema, consistency_level="Strong",
                                 timeout=self.write_timeout_s)
        # sync=False: pymilvus otherwise polls each index with a 0.5 s sleep; loading waits for them anyway.
        client.create_index(self.collection, index, timeout=self.write_timeout_s, sync=False)
        client.load_collection(self.collection, timeout=self.write_timeout_s)

    def _check_schema(self, description: dict[str, Any]) -> None:
        fields = {f["name"]: f for f in description.get("fields", [])}
        dense_dim = int((fields.get("dense", {}).get("params") or {}).get("dim", -1))
        if dense_dim != self.dim:
            raise StoreError(f"collection {self.collection!r} holds {dense_dim}-dim vectors, the embedder makes "
                             f"{self.dim}: use another collection or re-index")
        if ("learned" in fields) != self.learned_sparse:
            raise StoreError(f"collection {self.collection!r} was created with learned_sparse="
                             f"{'learned' in fields}: use another collection or re-index")

    # -- writes ----------------------------------------------------------------------------------------------

    async def upsert(self, chunks: list[Chunk], dense: np.ndarray, *, version: int = 0,
                     learned: list[dict[int, float]] | None = None) -> int:
        """Insert or replace chunks by id (a content hash: the same content twice is one row)."""
        vectors = np.asarray(dense, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape != (len(chunks), self.dim):
            raise ValueError(f"dense must have shape ({len(chunks)}, {self.dim}), got {vectors.shape}")
        if learned is not None and not self.learned_sparse:
            raise ValueError("learned sparse vectors given, but the store was built with learned_sparse=False")
        if self.learned_sparse and (learned is None or len(learned) != len(chunks)):
            raise ValueError("learned_sparse=True: pass one learned sparse vector per chunk")
        if not chunks:
            return 0
        rows_by_id: dict[str, dict[str, Any]] = {}
        for i, chunk in enumerate(chunks):  # a repeated id in one request is ambiguous to Milvus: last one wins
            rows_by_id[chunk.id] = self._row(chunk, vectors[i], version, learned[i] if learned else None)
        rows = list(rows_by_id.values())
        await self.ensure()
        started = time.perf_counter()
        async with self._write_lock:
            for start in range(0, len(rows), _WRITE_BATCH):
                batch = rows[start:start + _WRITE_BATCH]
                await self._run(lambda c, b=batch: c.upsert(self.collection, b, timeout=self.write_timeout_s),
                                timeout_s=self.write_timeout_s)
            await self._flush()
        log.info("store.upserted", collection=self.collection, rows=len(rows), version=version,
                 ms=round((time.perf_counter() - started) * 1000, 1))
        return len(rows)

    async def delete(self, source_id: str, chunk_ids: Sequence[str] | None = None) -> int:
        """Delete a source's chunks (all of them, or only `chunk_ids`). Returns how many rows went."""
        if chunk_ids is not None and not chunk_ids:
            return 0
        await self.ensure()
        base = f"source_id == {quote(source_id)}"
        filters = [base] if chunk_ids is None else [
            f"{base} and {in_filter('id', chunk_ids[i:i + 1000])}" for i in range(0, len(chunk_ids), 1000)
        ]
        deleted = 0
        async with self._write_lock:
            for expr in filters:
                result = await self._run(
                    lambda c, e=expr: c.delete(self.collection, filter=e, timeout=self.write_timeout_s),
                    timeout_s=self.write_timeout_s)
                deleted += _delete_count(result)
            await self._flush()
        log.info("store.deleted", collection=self.collection, source_id=source_id, rows=deleted)
        return deleted

    def _row(self, chunk: Chunk, vector: np.ndarray, version: int, learned: dict[int, float] | None) -> dict:
        for name in ("id", "source_id", "knowledge_type"):  # cutting these would corrupt filters and diffs
            value = chunk.id if name == "id" else getattr(chunk, name)
            if len(value.encode("utf-8")) > MAX_BYTES[name]:
                raise ValueError(f"{name} longer than {MAX_BYTES[name]} bytes: {value[:80]!r}")
        extra = {"headings": list(chunk.headings),
                 "search_text": fit_bytes(chunk.search_text, _ORIGINAL_SEARCH_TEXT_BYTES)}
        metadata = {**chunk.metadata, _RESERVED: extra}
        encoded = json.dumps(metadata, ensure_ascii=False, default=str)
        if len(encoded.encode("utf-8")) > _METADATA_MAX_BYTES:
            raise ValueError(f"metadata of chunk {chunk.id} exceeds {_METADATA_MAX_BYTES} bytes")
        row: dict[str, Any] = {
            "id": chunk.id,
            "source_id": chunk.source_id,
            "block_id": fit_bytes(chunk.block_id, MAX_BYTES["block_id"]),
            "knowledge_type": chunk.knowledge_type,
            "version": int(version),
            "title": fit_bytes(chunk.title, MAX_BYTES["title"]),
            "headings": fit_bytes(" > ".join(chunk.headings), MAX_BYTES["headings"]),
            "text": fit_bytes(chunk.text, MAX_BYTES["text"]),
            "question": fit_bytes(chunk.question, MAX_BYTES["question"]),
            "answer": fit_bytes(chunk.answer, MAX_BYTES["answer"]),
            "search_text": fit_bytes(bm25_input(chunk), MAX_BYTES["search_text"]),
            "position": int(chunk.position),
            "dense": vector.tolist(),
            "metadata": json.loads(encoded),
        }
        if self.learned_sparse:
            weights = {int(k): float(v) for k, v in (learned or {}).items() if v}
            row["learned"] = weights or dict(_LEARNED_PLACEHOLDER)
        return row

    async def _flush(self) -> None:
        await self._run(lambda c: c.flush(self.collection, timeout=self.write_timeout_s),
                        timeout_s=self.write_timeout_s)

    # -- reads -----------------------------------------------------------------------------------------------

    async def count(self) -> int:
        await self.ensure()
        rows = await self._run(lambda c: c.query(self.collection, filter="", output_fields=["count(*)"],
                                                 timeout=self.connection.timeout_s))
        return int(rows[0]["count(*)"]) if rows else 0

    async def chunk_ids(self, source_id: str) -> dict[str, str]:
        """id → block_id of every chunk stored for a source: what a re-sync diffs against."""
        rows = await self._scan(f"source_id == {quote(source_id)}", ["block_id"])
        return {str(r["id"]): r.get("block_id", "") for r in rows}

    async def sources(self) -> list[dict[str, Any]]:
        """One entry per source: source_id, title, knowledge_type, chunks (count)."""
        rows = await self._scan("", ["source_id", "title", "knowledge_type"])
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            entry = out.setdefault(r["source_id"], {"source_id": r["source_id"], "title": r.get("title", ""),
                                                    "knowledge_type": r.get("knowledge_type", ""), "chunks": 0})
            entry["chunks"] += 1
            if not entry["title"]:
                entry["title"] = r.get("title", "")
        return sorted(out.values(), key=lambda e: e["source_id"])

    async def get(self, ids: Sequence[str]) -> list[StoredHit]:
        """The stored chunks for `ids`, in that order (missing ids are skipped); score is 0."""
        if not ids:
            return []
        await self.ensure()
        rows = await self._run(lambda c: c.get(self.collection, ids=list(ids), output_fields=_OUTPUT_FIELDS,
                                               timeout=self.connection.timeout_s))
        by_id = {str(r["id"]): r for r in rows}
        return [StoredHit.from_entity(by_id[i], i, 0.0) for i in ids if i in by_id]

    async def entry_rows(self, refs: Sequence[tuple[str, str, str]]) -> list[StoredHit]:
        """The stored rows of knowledge entries given as (source_id, block_id, chunk_id): by chunk id first, and
        for an entry with a block id whose chunk changed since (an edited FAQ answer), by source and block."""
        by_chunk = await self.get([c for _, _, c in refs if c])
        found = {(h.source_id, h.block_id) for h in by_chunk}
        out = list(by_chunk)
        for source_id, block_id, _ in refs:
            if block_id and (source_id, block_id) not in found:
                rows = await self._scan(f"source_id == {quote(source_id)} and block_id == {quote(block_id)}",
                                        _OUTPUT_FIELDS)
                if rows:
                    out.append(StoredHit.from_entity(rows[0], rows[0]["id"], 0.0))
                    found.add((source_id, block_id))
        return out

    async def dense_search(self, vector: np.ndarray | Sequence[float], top_k: int, *,
                           knowledge_types: Sequence[str] | None = None,
                           source_ids: Sequence[str] | None = None) -> list[StoredHit]:
        """Nearest chunks by cosine similarity (score in [-1, 1])."""
        expr = _filter(knowledge_types, source_ids)
        if expr is None or top_k <= 0:
            return []
        data = [self._vector(vector)]
        params = {"metric_type": "COSINE", "params": {"ef": max(64, top_k)}}
        return await self._search(data, "dense", params, top_k, expr, score_sign=1.0)

    async def bm25_search(self, text: str, top_k: int, *, knowledge_types: Sequence[str] | None = None,
                          source_ids: Sequence[str] | None = None) -> list[StoredHit]:
        """Full-text BM25 over `search_text` (jieba-tokenized). Score ≥ 0."""
        expr = _filter(knowledge_types, source_ids)
        if expr is None or top_k <= 0 or not text.strip():
            return []
        # Milvus Lite returns BM25 as negative distances, a server as positive scores: abs() fits both.
        return await self._search([text], "bm25", {"metric_type": "BM25"}, top_k, expr, score_sign=None)

    async def learned_search(self, weights: dict[int, float], top_k: int, *,
                             knowledge_types: Sequence[str] | None = None,
                             source_ids: Sequence[str] | None = None) -> list[StoredHit]:
        """Inner product over learned sparse (BGE-M3 lexical) weights."""
        if not self.learned_sparse:
            raise StoreError("this store was built with learned_sparse=False")
        expr = _filter(knowledge_types, source_ids)
        query = {int(k): float(v) for k, v in weights.items() if v}
        if expr is None or top_k <= 0 or not query:
            return []
        return await self._search([query], "learned", {"metric_type": "IP"}, top_k, expr, score_sign=1.0)

    async def hybrid_search(self, vector: np.ndarray | Sequence[float], text: str, top_k: int, *,
                            fusion: Fusion = "rrf", weights: Sequence[float] = (0.5, 0.5), rrf_k: int = 60,
                            knowledge_types: Sequence[str] | None = None, source_ids: Sequence[str] | None = None,
                            learned: dict[int, float] | None = None, candidates: int | None = None,
                            ) -> list[StoredHit]:
        """Dense + BM25 (+ learned sparse when given) fused by Milvus: RRF or weighted (normalized) scores.

        `weights` follows the request order: (dense, bm25[, learned]). The score is the ranker's fused score.
        """
        if fusion not in ("rrf", "weighted"):
            raise ValueError(f"fusion must be 'rrf' or 'weighted', got {fusion!r}")
        expr = _filter(knowledge_types, source_ids)
        if expr is None or top_k <= 0:
            return []
        limit = candidates or max(top_k * 4, 20)
        requests = [AnnSearchRequest(data=[self._vector(vector)], anns_field="dense",
                                     param={"metric_type": "COSINE", "params": {"ef": max(64, limit)}},
                                     limit=limit, expr=expr or None)]
        request_weights = [float(weights[0]) if weights else 0.5]
        if text.strip():
            requests.append(AnnSearchRequest(data=[text], anns_field="bm25", param={"metric_type": "BM25"},
                                             limit=limit, expr=expr or None))
            request_weights.append(float(weights[1]) if len(weights) > 1 else 0.5)
        if learned:
            if not self.learned_sparse:
                raise StoreError("this store was built with learned_sparse=False")
            query = {int(k): float(v) for k, v in learned.items() if v}
            if query:
                requests.append(AnnSearchRequest(data=[query], anns_field="learned", param={"metric_type": "IP"},
                                                 limit=limit, expr=expr or None))
                request_weights.append(float(weights[2]) if len(weights) > 2 else 0.5)
        if len(requests) == 1:  # nothing to fuse with
            return await self.dense_search(vector, top_k, knowledge_types=knowledge_types, source_ids=source_ids)
        ranker = RRFRanker(rrf_k) if fusion == "rrf" else WeightedRanker(*request_weights)
        await self.ensure()
        result = await self._run(lambda c: c.hybrid_search(
            self.collection, requests, ranker=ranker, limit=top_k, output_fields=_OUTPUT_FIELDS,
            timeout=self.connection.timeout_s))
        return [StoredHit.from_entity(hit.entity, hit.id, hit.distance) for hit in result[0]] if result else []

    # -- plumbing --------------------------------------------------------------------------------------------

    async def _search(self, data: list, anns_field: str, params: dict, top_k: int, expr: str,
                      score_sign: float | None) -> list[StoredHit]:
        await self.ensure()
        result = await self._run(lambda c: c.search(
            self.collection, data=data, anns_field=anns_field, search_params=params, limit=top_k, filter=expr,
            output_fields=_OUTPUT_FIELDS, timeout=self.connection.timeout_s))
        hits = result[0] if result else []
        return [StoredHit.from_entity(hit.entity, hit.id,
                                      abs(hit.distance) if score_sign is None else score_sign * hit.distance)
                for hit in hits]

    async def _scan(self, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `expr`. A plain query stops at 16,384 rows on a server: past that, iterate."""
        await self.ensure()
        timeout = self.connection.timeout_s

        def scan(client: MilvusClient) -> list[dict[str, Any]]:
            rows = client.query(self.collection, filter=expr, output_fields=fields, limit=_QUERY_LIMIT,
                                timeout=timeout)
            if len(rows) < _QUERY_LIMIT:
                return list(rows)
            iterator = client.query_iterator(self.collection, batch_size=4096, filter=expr,
                                             output_fields=fields, timeout=timeout)
            rows = []
            try:
                while batch := iterator.next():
                    rows.extend(batch)
            finally:
                iterator.close()
            return rows

        return await self._run(scan, timeout_s=self.write_timeout_s)

    def _vector(self, vector: np.ndarray | Sequence[float]) -> list[float]:
        array = np.asarray(vector, dtype=np.float32).reshape(-1)
        if array.shape[0] != self.dim:
            raise ValueError(f"query vector has {array.shape[0]} dims, the store {self.dim}")
        return array.tolist()

    async def _run(self, call, *, timeout_s: float | None = None):  # type: ignore[no-untyped-def]
        return await self.connection.run(call, timeout_s=timeout_s)


def _filter(knowledge_types: Sequence[str] | None, source_ids: Sequence[str] | None) -> str | None:
    """A filter expression; "" for no filter; None when an empty list makes the result empty by definition."""
    parts: list[str] = []
    for name, values in (("knowledge_type", knowledge_types), ("source_id", source_ids)):
        if values is None:
            continue
        if isinstance(values, str):
            values = [values]
        if not values:
            return None
        parts.append(in_filter(name, values))
    return " and ".join(parts)


def _delete_count(result: Any) -> int:
    # Milvus Lite answers a list of deleted ids ({} when none), a server {"delete_count": n}.
    if isinstance(result, dict):
        return int(result.get("delete_count", 0) or 0)
    try:
        return len(result)
    except TypeError:
        return 0
