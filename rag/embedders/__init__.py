"""Embedders behind one Protocol; `create_embedder(settings)` picks one from settings."""

from rag.embedders.base import Embedder, SparseEmbedder, SparseVector
from rag.embedders.factory import EMBEDDER_KINDS, create_embedder

__all__ = ["EMBEDDER_KINDS", "Embedder", "SparseEmbedder", "SparseVector", "create_embedder"]
