"""BGE-M3 through FlagEmbedding: dense vectors plus learned lexical weights (the `flag` extra, torch-based).

FlagEmbedding and torch are imported when an embedder is built, never at module import, so the package
works without the extra.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import structlog

from rag.embedders.base import SparseVector

log = structlog.get_logger("rag.embedders.flag")


def require_model_dir(model_path: str, what: str) -> Path:
    """Models load from a local directory only: there is no model hub to fall back on."""
    if not model_path:
        raise ValueError(f"{what} needs model_path: a local directory with the model files")
    path = Path(model_path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{what}: no model directory (config.json) at {path}")
    return path


def offline_hub() -> None:
    """Make transformers/huggingface_hub refuse the network instead of hanging on it.

    Set before the first import of transformers: huggingface_hub reads these at import time.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def import_flag_embedding():
    offline_hub()
    try:
        import FlagEmbedding
    except ImportError as exc:  # the extra is optional
        raise ImportError(
            "bge-m3 and the reranker need the `flag` extra: pip install torch==2.13.0 && pip install 'larkdesk[flag]'"
        ) from exc
    return FlagEmbedding


def to_sparse_vector(weights: dict) -> SparseVector:
    """FlagEmbedding keys lexical weights by str(token id) with numpy floats; Milvus wants int → float."""
    return {int(token_id): float(w) for token_id, w in weights.items() if w > 0}


class BGEM3Embedder:
    """BGE-M3 dense (+ sparse) vectors. One model per instance; calls are serialized by a lock because
    FlagEmbedding moves the model between devices and dtypes on every call."""

    name = "bge-m3"

    def __init__(
        self,
        model_path: str,
        *,
        batch_size: int = 32,
        max_length: int = 512,
        device: str | None = None,
        use_fp16: bool = False,
    ) -> None:
        path = require_model_dir(model_path, "bge-m3")
        flag = import_flag_embedding()
        self._model = flag.BGEM3FlagModel(
            str(path),
            use_fp16=use_fp16,
            devices=device,
            batch_size=batch_size,
            query_max_length=max_length,
            passage_max_length=max_length,
        )
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self.dim = int(json.loads((path / "config.json").read_text())["hidden_size"])
        log.info("bge_m3.loaded", path=str(path), dim=self.dim, device=device or "auto")

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False, sparse=False)[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True, sparse=False)[0]

    def embed_sparse(self, texts: Sequence[str]) -> list[SparseVector]:
        # BGE-M3's lexical head is symmetric: queries and passages get the same treatment.
        return self._encode(texts, is_query=False, sparse=True)[1]

    def embed_documents_with_sparse(self, texts: Sequence[str]) -> tuple[np.ndarray, list[SparseVector]]:
        """Dense and sparse from one forward pass: ingest needs both and the model is the cost."""
        return self._encode(texts, is_query=False, sparse=True)

    def _encode(self, texts: Sequence[str], *, is_query: bool, sparse: bool) -> tuple[np.ndarray, list[SparseVector]]:
        if isinstance(texts, str):
            raise TypeError("pass a sequence of texts, not a single str")
        items = list(texts)
        if not items:
            return np.empty((0, self.dim), dtype=np.float32), []
        encode = self._model.encode_queries if is_query else self._model.encode_corpus
        with self._lock:
            out = encode(items, batch_size=self.batch_size, return_dense=True, return_sparse=sparse)
        dense = np.asarray(out["dense_vecs"], dtype=np.float32).reshape(len(items), self.dim)
        # FlagEmbedding normalizes already; renormalize so fp16 round-off never leaks into cosine scores.
        dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)
        lexical = [to_sparse_vector(w) for w in out["lexical_weights"]] if sparse else []
        return dense, lexical
