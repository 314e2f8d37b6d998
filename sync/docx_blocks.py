"""Feishu docx blocks (GET /open-apis/docx/v1/documents/:id/blocks) → Chunks, one per content block.

One chunk per block means an edit to one block changes exactly one chunk (the chunk's `block_id` is the Feishu
block id), so re-syncing a document re-embeds only what changed. Headings are not chunks: they become the
heading path of the blocks below them. A table (with its cells) is one chunk. Order follows the page block's
`children` lists, depth first, which is the order a reader sees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import structlog

from sync.chunking import DEFAULT_MAX_CHARS, dedupe, split_long_text
from sync.models import Chunk, ParsedDocument

log = structlog.get_logger("sync.docx_blocks")

PAGE, TEXT, BULLET, ORDERED, CODE, QUOTE, TASK_ITEM, CALLOUT = 1, 2, 12, 13, 14, 15, 17, 19
DIVIDER, IMAGE, TABLE, TABLE_CELL, QUOTE_CONTAINER, UNSUPPORTED = 22, 27, 31, 32, 34, 999
SOURCE_PREFIX = "feishu:"  # the same source id sync.live uses for a subscribed document
HEADING_TYPES = range(3, 12)  # heading1..heading9

# block_type → key of its content object in the block JSON
ELEMENT_KEYS: dict[int, str] = {
    PAGE: "page", TEXT: "text", BULLET: "bullet", ORDERED: "ordered", CODE: "code", QUOTE: "quote", TASK_ITEM: "todo",
    **{t: f"heading{t - 2}" for t in HEADING_TYPES},
}
TEXT_TYPES = frozenset({TEXT, BULLET, ORDERED, CODE, QUOTE, TASK_ITEM})  # each one chunk
CONTAINER_TYPES = frozenset({PAGE, CALLOUT, QUOTE_CONTAINER})  # no text of their own; their children count


def default_source_id(document_id: str) -> str:
    return document_id if document_id.startswith(SOURCE_PREFIX) else SOURCE_PREFIX + document_id


def elements_text(elements: Iterable[Mapping[str, Any]]) -> str:
    """Concatenate a block's text elements: text runs, equations, mentioned documents' titles."""
    parts: list[str] = []
    for element in elements or ():
        if "text_run" in element:
            parts.append(element["text_run"].get("content", ""))
        elif "equation" in element:
            parts.append(element["equation"].get("content", "").strip())
        elif "mention_doc" in element:
            parts.append(element["mention_doc"].get("title", ""))
    return "".join(parts)


def _children(block: Mapping[str, Any], blocks_by_id: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [blocks_by_id[c] for c in block.get("children") or () if c in blocks_by_id]


def table_rows(block: Mapping[str, Any], blocks_by_id: Mapping[str, Mapping[str, Any]]) -> list[list[str]]:
    """Cells come row-major in `table.cells` (or `children`); `table.property.column_size` gives the width."""
    body = block.get("table") or {}
    cell_ids = body.get("cells") or block.get("children") or []
    cells = [" ".join(block_text(blocks_by_id[c], blocks_by_id).split()) if c in blocks_by_id else ""
             for c in cell_ids]
    width = int((body.get("property") or {}).get("column_size") or 0) or len(cells) or 1
    rows = [cells[i : i + width] for i in range(0, len(cells), width)]
    return [row for row in rows if any(row)]


def block_text(block: Mapping[str, Any], blocks_by_id: Mapping[str, Mapping[str, Any]]) -> str:
    """Plain text of one block; a container's (callout, quote container, table cell) is its children's text."""
    btype = block.get("block_type")
    if btype == TABLE:
        return "\n".join(" | ".join(row) for row in table_rows(block, blocks_by_id))
    if btype in (CALLOUT, QUOTE_CONTAINER, TABLE_CELL):
        texts = (block_text(child, blocks_by_id) for child in _children(block, blocks_by_id))
        return "\n".join(t for t in texts if t.strip())
    key = ELEMENT_KEYS.get(btype)  # type: ignore[arg-type]
    if key is None:
        return ""
    return elements_text((block.get(key) or {}).get("elements") or ())


def _document_order(blocks: list[Mapping[str, Any]],
                    blocks_by_id: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Depth first from the page block along `children`; blocks no parent lists come last, in list order."""
    roots = [b for b in blocks if b.get("block_type") == PAGE or not b.get("parent_id")]
    order: list[Mapping[str, Any]] = []
    seen: set[str] = set()

    def visit(block: Mapping[str, Any]) -> None:
        stack = [block]
        while stack:
            current = stack.pop()
            bid = current.get("block_id", "")
            if bid in seen:
                continue
            seen.add(bid)
            order.append(current)
            stack.extend(reversed(_children(current, blocks_by_id)))

    for root in roots:
        visit(root)
    orphans = [b for b in blocks if b.get("block_id", "") not in seen]
    if orphans:
        log.warning("docx_blocks.orphans", count=len(orphans))
        for block in orphans:
            visit(block)
    return order


def chunks_from_blocks(
    document_id: str,
    title: str,
    blocks: Iterable[Mapping[str, Any]],
    *,
    knowledge_type: str = "doc",
    source_id: str | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[Chunk]:
    """One chunk per content block. `source_id` defaults to "feishu:<document_id>" (`document_id` may also be
    given as that source id already).

    A block longer than `max_chars` (rare: Feishu paragraphs are short) is split at sentence ends into several
    chunks that share its block_id, so the embedder never sees an over-long input.
    """
    blocks = list(blocks)
    blocks_by_id = {b["block_id"]: b for b in blocks if b.get("block_id")}
    sid = source_id or default_source_id(document_id)
    bare_id = document_id.removeprefix(SOURCE_PREFIX)
    inside_table: set[str] = set()  # cells and their text blocks belong to the table's chunk
    stack: list[tuple[int, str]] = []
    chunks: list[Chunk] = []
    for block in _document_order(blocks, blocks_by_id):
        bid, btype = block.get("block_id", ""), block.get("block_type")
        if bid in inside_table:
            inside_table.update(block.get("children") or ())
            continue
        if btype in HEADING_TYPES:
            text = " ".join(block_text(block, blocks_by_id).split())
            if text:
                level = btype - 2
                stack = [(lvl, t) for lvl, t in stack if lvl < level] + [(level, text)]
            continue
        if btype == TABLE:
            inside_table.update(block.get("children") or ())
            inside_table.update((block.get("table") or {}).get("cells") or ())
            text = block_text(block, blocks_by_id)
        elif btype in TEXT_TYPES:
            # No list numbers in the text: inserting one item would renumber (and re-embed) all that follow.
            text = block_text(block, blocks_by_id).strip()
        else:
            continue  # page, containers (their children come next), divider, image, unsupported
        if not text.strip():
            continue
        parts = [text] if btype in (TABLE, CODE) or len(text) <= max_chars else split_long_text(text, max_chars)
        for part in parts:
            chunks.append(Chunk(source_id=sid, text=part, knowledge_type=knowledge_type, block_id=bid,
                                headings=tuple(t for _, t in stack), title=title, position=len(chunks),
                                metadata={"block_type": btype, "document_id": bare_id}))
    return dedupe(chunks)


def document_from_blocks(document_id: str, title: str, blocks: Iterable[Mapping[str, Any]], *,
                         knowledge_type: str = "doc", source_id: str | None = None) -> ParsedDocument:
    chunks = chunks_from_blocks(document_id, title, blocks, knowledge_type=knowledge_type, source_id=source_id)
    return ParsedDocument(source_id=source_id or default_source_id(document_id), title=title, chunks=chunks,
                          source_type="feishu_docx", metadata={"document_id": document_id.removeprefix(SOURCE_PREFIX)})
