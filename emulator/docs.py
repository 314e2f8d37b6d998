"""The docx block model: building documents from simple specs, editing, rendering."""

from __future__ import annotations

import copy
import time
from typing import Any

from emulator import ids
from emulator.state import Document

BLOCK_TYPES: dict[str, int] = {
    "page": 1,
    "text": 2,
    **{f"heading{i}": 2 + i for i in range(1, 10)},
    "bullet": 12,
    "ordered": 13,
    "code": 14,
    "quote": 15,
    "todo": 17,
    "callout": 19,
    "divider": 22,
    "image": 27,
    "table": 31,
    "table_cell": 32,
    "quote_container": 34,
}
TEXT_KINDS = {"page", "text", "bullet", "ordered", "code", "quote", "todo", *(f"heading{i}" for i in range(1, 10))}
CONTAINER_KINDS = {"callout", "quote_container", "table_cell"}
CODE_LANGUAGES = {
    "plaintext": 1,
    "bash": 7,
    "go": 22,
    "java": 29,
    "javascript": 30,
    "json": 28,
    "python": 49,
    "shell": 60,
    "sql": 56,
    "typescript": 63,
    "yaml": 67,
}


class DocSpecError(ValueError):
    pass


def _run(text: str, **style: Any) -> dict:
    tes = {"bold": False, "inline_code": False, "italic": False, "strikethrough": False, "underline": False}
    for key in ("bold", "inline_code", "italic", "strikethrough", "underline"):
        if style.get(key):
            tes[key] = True
    if style.get("link"):
        tes["link"] = {"url": style["link"]}
    return {"text_run": {"content": text, "text_element_style": tes}}


def text_payload(text: Any, kind: str = "text", spec: dict | None = None) -> dict:
    spec = spec or {}
    if isinstance(text, list):
        elements = [_run(str(r.get("text", "")), **r) if isinstance(r, dict) else _run(str(r)) for r in text]
    else:
        elements = [_run("" if text is None else str(text))]
    style: dict[str, Any] = {"align": 1, "folded": False}
    if kind == "code":
        lang = spec.get("language", 1)
        style = {
            "language": CODE_LANGUAGES.get(str(lang).lower(), 1) if isinstance(lang, str) else int(lang),
            "wrap": False,
        }
    elif kind == "todo":
        style = {"align": 1, "done": bool(spec.get("done", False)), "folded": False}
    return {"elements": elements, "style": style}


def block_text(block: dict) -> str:
    for kind in TEXT_KINDS:
        payload = block.get(kind)
        if isinstance(payload, dict) and "elements" in payload:
            return "".join(
                (el.get("text_run") or {}).get("content", "") for el in payload["elements"] if isinstance(el, dict)
            )
    return ""


def build_blocks(specs: list, parent_id: str, blocks: dict[str, dict]) -> list[str]:
    """Create blocks from simple specs under parent_id; returns the new top-level ids."""
    if not isinstance(specs, list):
        raise DocSpecError("blocks must be a list")
    created = []
    for spec in specs:
        if isinstance(spec, str):
            spec = {"type": "text", "text": spec}
        if not isinstance(spec, dict):
            raise DocSpecError(f"bad block spec {spec!r}")
        kind = spec.get("type", "text")
        if kind not in BLOCK_TYPES or kind == "page":
            raise DocSpecError(f"unknown block type {kind!r}")
        bid = ids.block_id()
        block: dict[str, Any] = {"block_id": bid, "parent_id": parent_id, "block_type": BLOCK_TYPES[kind]}
        blocks[bid] = block
        children: list[str] = []
        if kind in TEXT_KINDS:
            block[kind] = text_payload(spec.get("text", ""), kind, spec)
            children = build_blocks(spec.get("children", []), bid, blocks)
        elif kind == "divider":
            block["divider"] = {}
        elif kind == "image":
            block["image"] = {
                "token": spec.get("token", "boxcn" + ids.b62(22)),
                "width": int(spec.get("width", 100)),
                "height": int(spec.get("height", 100)),
            }
        elif kind in CONTAINER_KINDS:
            block[kind] = {"background_color": 1} if kind == "callout" else {}
            children = build_blocks(spec.get("children", []), bid, blocks)
        elif kind == "table":
            children = _build_table(spec, bid, blocks)
        if children:
            block["children"] = children
        created.append(bid)
    return created


def _build_table(spec: dict, table_id: str, blocks: dict[str, dict]) -> list[str]:
    rows = spec.get("rows")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise DocSpecError("table needs rows: [[cell, ...], ...]")
    cols = max(len(r) for r in rows)
    cells = []
    for row in rows:
        for c in range(cols):
            value = row[c] if c < len(row) else ""
            cell_children = value if isinstance(value, list) else [{"type": "text", "text": value}]
            cid = ids.block_id()
            blocks[cid] = {"block_id": cid, "parent_id": table_id, "block_type": 32, "table_cell": {}}
            blocks[cid]["children"] = build_blocks(cell_children, cid, blocks)
            cells.append(cid)
    blocks[table_id]["table"] = {
        "cells": list(cells),
        "property": {
            "row_size": len(rows),
            "column_size": cols,
            "column_width": [100] * cols,
            "header_row": bool(spec.get("header_row", False)),
            "header_column": False,
        },
    }
    return cells


def new_document(title: str, specs: list, owner_open_id: str = "", doc_id: str | None = None) -> Document:
    doc_id = doc_id or ids.document_id()
    blocks: dict[str, dict] = {}
    root = {"block_id": doc_id, "parent_id": "", "block_type": 1, "page": text_payload(title, "page")}
    blocks[doc_id] = root
    root["children"] = build_blocks(specs, doc_id, blocks)
    doc = Document(document_id=doc_id, title=title, blocks=blocks, owner_open_id=owner_open_id)
    doc.revisions[1] = (title, copy.deepcopy(blocks))
    return doc


def ordered_blocks(blocks: dict[str, dict], root_id: str) -> list[dict]:
    """Blocks in document order (pre-order from the page block), as the blocks API lists them."""
    out: list[dict] = []
    stack = [root_id]
    while stack:
        bid = stack.pop()
        block = blocks.get(bid)
        if block is None:
            continue
        out.append(block)
        stack.extend(reversed(block.get("children", [])))
    return out


def raw_content(doc: Document) -> str:
    """Plain text: the title, then one line per text-bearing block in document order."""
    lines = [block_text(b) for b in ordered_blocks(doc.blocks, doc.document_id) if any(k in b for k in TEXT_KINDS)]
    return "".join(line + "\n" for line in lines)


def _delete_subtree(blocks: dict[str, dict], bid: str) -> None:
    block = blocks.pop(bid, None)
    if block:
        for child in block.get("children", []):
            _delete_subtree(blocks, child)


def apply_edits(doc: Document, ops: list) -> dict:
    """Apply edit ops atomically (on a copy); bumps revision_id. Returns what changed."""
    if not isinstance(ops, list) or not ops:
        raise DocSpecError("ops must be a non-empty list")
    blocks = copy.deepcopy(doc.blocks)
    title = doc.title
    inserted: list[str] = []
    title_changed = False
    for op in ops:
        if not isinstance(op, dict):
            raise DocSpecError(f"bad op {op!r}")
        kind = op.get("op")
        if kind == "update_text":
            block = blocks.get(op.get("block_id", ""))
            if block is None:
                raise DocSpecError(f"block {op.get('block_id')!r} not found")
            kinds = [k for k in TEXT_KINDS if k in block]
            if not kinds or kinds[0] == "page":
                raise DocSpecError("block has no editable text (use set_title for the page)")
            style = block[kinds[0]].get("style", {})
            block[kinds[0]] = {"elements": text_payload(op.get("text", ""))["elements"], "style": style}
        elif kind == "insert":
            after = op.get("after")
            if after:
                anchor = blocks.get(after)
                if anchor is None or not anchor.get("parent_id"):
                    raise DocSpecError(f"block {after!r} not found (or is the page)")
                parent = blocks[anchor["parent_id"]]
                index = parent["children"].index(after) + 1
            else:
                parent = blocks.get(op.get("parent_id") or doc.document_id)
                if parent is None:
                    raise DocSpecError(f"parent {op.get('parent_id')!r} not found")
                index = int(op.get("index", len(parent.get("children", []))))
            new_ids = build_blocks(op.get("blocks", []), parent["block_id"], blocks)
            children = parent.setdefault("children", [])
            children[index:index] = new_ids
            inserted.extend(new_ids)
        elif kind == "delete":
            for bid in op.get("block_ids", []):
                block = blocks.get(bid)
                if block is None or bid == doc.document_id:
                    raise DocSpecError(f"block {bid!r} not found (or is the page)")
                parent = blocks.get(block["parent_id"])
                if parent is not None:
                    parent["children"].remove(bid)
                    if not parent["children"]:
                        parent.pop("children")
                _delete_subtree(blocks, bid)
        elif kind == "set_title":
            title = str(op.get("title", ""))
            blocks[doc.document_id]["page"] = text_payload(title, "page")
            title_changed = title != doc.title
        else:
            raise DocSpecError(f"unknown op {kind!r}; one of update_text, insert, delete, set_title")
    doc.blocks = blocks
    doc.title = title
    doc.revision_id += 1
    doc.edited_at = int(time.time())
    doc.revisions[doc.revision_id] = (title, copy.deepcopy(blocks))
    return {"revision_id": doc.revision_id, "inserted": inserted, "title_changed": title_changed}
