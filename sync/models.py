"""The unit of knowledge: a chunk, and what a parsed source turns into before chunking."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

KNOWLEDGE_TYPES = ("doc", "faq", "policy", "solution")


def content_hash(*parts: str) -> str:
    """Stable id from content: the same content (in the same source) always gets the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of knowledge.

    `text` is what answers quote and what the LLM sees; `search_text` is extra text indexed for search only
    (an FAQ's similar questions). `block_id` ties a chunk to the Feishu docx block (or file section) it came
    from, so a doc edit re-embeds only the chunks of the blocks that changed.
    """

    source_id: str
    text: str
    knowledge_type: str = "doc"
    block_id: str = ""
    headings: tuple[str, ...] = ()
    title: str = ""
    search_text: str = ""
    question: str = ""  # FAQ: the main question
    answer: str = ""  # FAQ: the answer
    position: int = 0  # order within the source
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def id(self) -> str:
        return content_hash(self.source_id, self.knowledge_type, " > ".join(self.headings), self.text,
                            self.search_text)

    @property
    def heading_path(self) -> str:
        return " > ".join(h for h in self.headings if h)

    def embedding_text(self) -> str:
        """What the dense embedder sees: headings give a short block its context."""
        parts = [self.title, self.heading_path, self.question or "", self.text]
        seen: list[str] = []
        for part in parts:
            if part and part not in seen:
                seen.append(part)
        return "\n".join(seen)


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    category: str = ""


@dataclass
class ParsedDocument:
    """A source after parsing: its title and its chunks in order, ready to embed."""

    source_id: str
    title: str
    chunks: list[Chunk]
    source_type: str  # "md", "pdf", "docx", "faq", "feishu_docx", ...
    metadata: dict[str, Any] = field(default_factory=dict)
