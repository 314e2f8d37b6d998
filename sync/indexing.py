"""How chunks become index rows: an FAQ entry is indexed once per way of asking it.

A customer's question is compared with questions, not with question+answer blends: each FAQ entry gets a
row for its main question and one per similar question (same `block_id`, so retrieval folds them back into
one entry). Other chunks are indexed as they are.
"""

from __future__ import annotations

from dataclasses import replace

from sync.models import Chunk


def index_rows(chunk: Chunk) -> list[Chunk]:
    if chunk.knowledge_type != "faq" or not chunk.question:
        return [chunk]
    variants = [chunk.question, *[s for s in chunk.search_text.split("\n") if s.strip()]]
    seen: list[str] = []
    for variant in variants:
        variant = variant.strip()
        if variant and variant not in seen:
            seen.append(variant)
    return [replace(chunk, search_text=v, metadata={**chunk.metadata, "variant": i}) for i, v in enumerate(seen)]


def embedding_input(row: Chunk) -> tuple[str, bool]:
    """(text to embed, embed it as a query?). FAQ rows are questions: e5 models compare questions best
    when both sides carry the query prefix; so do learned phrasings (customers' own wordings)."""
    if row.knowledge_type == "faq" and row.question:
        return row.search_text or row.question, True
    if row.knowledge_type == "learned":  # a customer's wording of a question, compared with questions
        return row.question, True
    return row.embedding_text(), False
