"""Embedders behind one Protocol; `create_embedder(settings)` picks one from settings."""

from rag.embedders.base import Embedder, SparseVector

__all__ = ["Embedder", "SparseVector"]
