"""The embedder Protocol. Calls block (CPU or HTTP): async callers run them with asyncio.to_thread."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

# A learned sparse vector (BGE-M3 lexical weights): token id → weight.
SparseVector = dict[int, float]


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalized."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalized; models with query prefixes apply them here."""
        ...


@runtime_checkable
class SparseEmbedder(Protocol):
    """Embedders that also give learned lexical weights (BGE-M3)."""

    def embed_sparse(self, texts: Sequence[str]) -> list[SparseVector]:
        ...
