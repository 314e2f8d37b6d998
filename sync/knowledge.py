"""The one write path into knowledge: parse → check → diff → embed only what is new → upsert → version.

Used by the CLI, the REST API, admin commands and live Feishu doc sync alike.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import structlog

from observability.metrics import KNOWLEDGE_CHUNKS_EMBEDDED
from rag.cache import KnowledgeVersion
from rag.embedders import Embedder
from rag.embedders.pool import run_embedding
from rag.store import KnowledgeStore
from sync.indexing import embedding_input, index_rows
from sync.limits import IngestLimits
from sync.models import Chunk, ParsedDocument
from sync.versions import SourceVersion, VersionRegistry

log = structlog.get_logger("sync.knowledge")

# (phase, done, total): "parse" 0/1 → 1/1, "embed" rows embedded of the new rows, "write" 0/1 → 1/1.
Progress = Callable[[str, int, int], None]


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    pass


def _rows_by_id(chunks: list[Chunk]) -> dict[str, Chunk]:
    return {row.id: row for chunk in chunks for row in index_rows(chunk)}


class QualityRejected(ValueError):
    """validate_quality refused the content; `reason` says why."""

    def __init__(self, source_id: str, reason: str) -> None:
        super().__init__(f"{source_id}: {reason}")
        self.source_id = source_id
        self.reason = reason


@dataclass
class IngestResult:
    source_id: str
    title: str
    knowledge_type: str
    chunk_count: int
    version: int | None
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SyncDiff:
    added: int
    removed: int
    unchanged: int


class KnowledgeBase:
    def __init__(self, store: KnowledgeStore, embedder: Embedder, versions: VersionRegistry,
                 kb_version: KnowledgeVersion | None = None, *, embed_batch: int = 32,
                 limits: IngestLimits | None = None) -> None:
        self.store = store
        self.limits = limits or IngestLimits()
        self.embedder = embedder
        self.versions = versions
        self.kb_version = kb_version
        self.embed_batch = embed_batch
        self._source_locks: dict[str, asyncio.Lock] = {}

    # -- write paths -------------------------------------------------------------------------------

    async def parse(self, path: str | Path, *, knowledge_type: str | None = None,
                    source_id: str | None = None) -> ParsedDocument:
        """Parse within the ingest limits, off the event loop (a capped child process for anything that can
        expand: see sync/parse_process.py)."""
        from sync.parse_process import parse_bounded

        return await parse_bounded(Path(path), limits=self.limits, knowledge_type=knowledge_type,
                                   source_id=source_id)

    async def ingest_file(self, path: str | Path, *, knowledge_type: str | None = None, register: bool = True,
                          validate_quality: bool = True, source_id: str | None = None,
                          progress: Progress | None = None, parsed: ParsedDocument | None = None) -> IngestResult:
        """`parsed`: the file's document when the caller parsed it already (to size the write first)."""
        progress = progress or _no_progress
        progress("parse", 0, 1)
        doc = parsed or await self.parse(path, knowledge_type=knowledge_type, source_id=source_id)
        progress("parse", 1, 1)
        return await self.ingest_document(doc, register=register, validate_quality=validate_quality,
                                          origin=Path(path).name, progress=progress)

    async def new_rows(self, doc: ParsedDocument) -> int:
        """How many rows of `doc` are not stored yet, i.e. how many embeddings an ingest of it will compute."""
        wanted = await asyncio.to_thread(_rows_by_id, doc.chunks)
        stored = await self.store.chunk_ids(doc.source_id)
        return sum(1 for rid in wanted if rid not in stored)

    async def ingest_document(self, doc: ParsedDocument, *, register: bool = True, validate_quality: bool = True,
                              origin: str = "", progress: Progress | None = None) -> IngestResult:
        started = time.perf_counter()
        progress = progress or _no_progress
        if validate_quality:
            from sync.quality import validate_quality as check

            report = await asyncio.to_thread(check, doc)
            if not report.ok:
                raise QualityRejected(doc.source_id, report.reason)
        knowledge_type = doc.chunks[0].knowledge_type if doc.chunks else "doc"
        diff = await self.sync_chunks(doc.source_id, doc.chunks, origin="ingest", progress=progress)
        version = None
        if register:
            registered: SourceVersion = await asyncio.to_thread(
                self.versions.register, doc.source_id, doc.chunks, title=doc.title, knowledge_type=knowledge_type,
                origin=origin or doc.metadata.get("origin", ""))
            version = registered.version
        progress("write", 1, 1)
        result = IngestResult(doc.source_id, doc.title, knowledge_type, len(doc.chunks), version, diff.added,
                              diff.removed, diff.unchanged, round(time.perf_counter() - started, 3))
        log.info("knowledge.ingested", source_id=doc.source_id, chunks=len(doc.chunks), version=version,
                 added=diff.added, removed=diff.removed)
        return result

    async def sync_chunks(self, source_id: str, chunks: list[Chunk], *, origin: str = "sync",
                          progress: Progress | None = None) -> SyncDiff:
        """Make the stored rows of `source_id` equal `chunks`, embedding only rows not stored yet."""
        progress = progress or _no_progress
        lock = self._source_locks.setdefault(source_id, asyncio.Lock())
        async with lock:
            # Hashing tens of thousands of rows takes a while: not on the event loop.
            wanted = await asyncio.to_thread(_rows_by_id, chunks) if len(chunks) > 200 else _rows_by_id(chunks)
            stored = await self.store.chunk_ids(source_id)
            new_rows = [row for rid, row in wanted.items() if rid not in stored]
            stale = [rid for rid in stored if rid not in wanted]
            if new_rows:
                dense = await self._embed(new_rows, progress)
                progress("write", 0, 1)
                await self.store.upsert(new_rows, dense)
                KNOWLEDGE_CHUNKS_EMBEDDED.labels(origin).inc(len(new_rows))
            if stale:
                await self.store.delete(source_id, stale)
            if (new_rows or stale) and self.kb_version is not None:
                await self.kb_version.bump()
            return SyncDiff(len(new_rows), len(stale), len(wanted) - len(new_rows))

    async def delete_source(self, source_id: str) -> int:
        removed = await self.store.delete(source_id)
        await asyncio.to_thread(self.versions.forget, source_id)
        if self.kb_version is not None:
            await self.kb_version.bump()
        return removed

    async def rollback(self, source_id: str, version: int) -> IngestResult:
        started = time.perf_counter()
        chunks = await asyncio.to_thread(self.versions.load, source_id, version)
        diff = await self.sync_chunks(source_id, chunks, origin="rollback")
        await asyncio.to_thread(self.versions.set_current, source_id, version)
        info = next(v for v in self.versions.versions(source_id) if v.version == version)
        return IngestResult(source_id, info.title, info.knowledge_type, len(chunks), version, diff.added,
                            diff.removed, diff.unchanged, round(time.perf_counter() - started, 3))

    # -- reads -------------------------------------------------------------------------------------

    async def documents(self) -> list[dict]:
        return await asyncio.to_thread(self.versions.sources)

    async def list_versions(self, source_id: str) -> list[SourceVersion]:
        return await asyncio.to_thread(self.versions.versions, source_id)

    # -- embedding ---------------------------------------------------------------------------------

    async def _embed(self, rows: list[Chunk], progress: Progress = _no_progress) -> np.ndarray:
        inputs = [embedding_input(row) for row in rows]
        out = np.zeros((len(rows), self.embedder.dim), dtype=np.float32)
        done = 0
        progress("embed", 0, len(rows))
        for as_query in (False, True):
            picked = [i for i, (_, q) in enumerate(inputs) if q == as_query]
            for start in range(0, len(picked), self.embed_batch):
                batch = picked[start:start + self.embed_batch]
                texts = [inputs[i][0] for i in batch]
                embed = self.embedder.embed_queries if as_query else self.embedder.embed_documents
                vectors = await run_embedding(embed, texts)
                out[batch] = vectors
                done += len(batch)
                progress("embed", done, len(rows))
        return out
