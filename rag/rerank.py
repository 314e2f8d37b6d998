"""Cross-encoder rerankers: score (query, passage) pairs after retrieval. Calls block: use asyncio.to_thread."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import structlog

from rag.embedders.flag import import_flag_embedding, require_model_dir

log = structlog.get_logger("rag.rerank")


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score in 0..1 per passage, in the order given (higher is more relevant)."""
        ...


class FlagRerankerWrapper:
    """A FlagEmbedding cross-encoder (bge-reranker-*) loaded from a local directory (`flag` extra)."""

    name = "flag-reranker"

    def __init__(
        self,
        model_path: str,
        *,
        batch_size: int = 32,
        max_length: int = 512,
        device: str | None = None,
        use_fp16: bool = False,
    ) -> None:
        path = require_model_dir(model_path, "reranker")
        flag = import_flag_embedding()
        self._model = flag.FlagReranker(
            str(path), use_fp16=use_fp16, devices=device, batch_size=batch_size, max_length=max_length
        )
        # FlagEmbedding moves the model to its device on every call: one call at a time.
        self._lock = threading.Lock()
        log.info("reranker.loaded", path=str(path), device=device or "auto")

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        if isinstance(passages, str):
            raise TypeError("pass a sequence of passages, not a single str")
        if not passages:
            return []
        pairs = [(query, p) for p in passages]
        with self._lock:
            # normalize=True applies a sigmoid to the logits: 0..1, comparable across queries.
            scores = self._model.compute_score(pairs, normalize=True)
        if not isinstance(scores, list):  # older FlagEmbedding returns a bare float for one pair
            scores = [scores]
        return [float(s) for s in scores]
