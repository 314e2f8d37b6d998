"""FAQ tables: rows with a question, an answer and optional similar questions → FaqEntry → one Chunk each."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sync.errors import ParseError
from sync.models import Chunk, FaqEntry, content_hash

# Column header (lower-cased, spaces removed) → field. English and Chinese spellings admins actually use.
HEADER_ALIASES: dict[str, str] = {
    "id": "id", "编号": "id", "序号": "id",
    "question": "question", "问题": "question", "标准问题": "question", "问": "question",
    "answer": "answer", "答案": "answer", "回答": "answer", "答": "answer",
    "similar": "similar", "similarquestions": "similar", "similar_questions": "similar",
    "相似问题": "similar", "相似问法": "similar", "相似问": "similar",
    "category": "category", "分类": "category", "类别": "category",
}

_SIMILAR_SEP = re.compile(r"[|\n]")


def header_field(name: Any) -> str | None:
    key = re.sub(r"\s+", "", str(name or "")).lower()
    return HEADER_ALIASES.get(key)


def split_similar(value: Any) -> tuple[str, ...]:
    """Similar questions come as a list (jsonl) or one cell separated by `|` or newlines (csv/xlsx)."""
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else _SIMILAR_SEP.split(str(value))
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if text and text not in out:
            out.append(text)
    return tuple(out)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # spreadsheets store 12 as 12.0
    return str(value).strip()


def entry_id(question: str) -> str:
    """Default id from the question alone, so editing the answer keeps the same entry id."""
    return "faq-" + content_hash(question)[:16]


def entries_from_records(records: Iterable[tuple[str, Mapping[str, Any]]], filename: str) -> list[FaqEntry]:
    """Build entries from (where, {field: value}) records keyed by field name; `where` reads "row 3", "line 7".

    A row with neither question nor answer is skipped (spreadsheets end in blank rows); a row with only one of
    them, or a repeated id, is an error: silently dropping half an FAQ is worse than refusing the file.
    """
    entries: list[FaqEntry] = []
    seen: dict[str, str] = {}
    for where, record in records:
        question = cell_text(record.get("question"))
        answer = cell_text(record.get("answer"))
        if not question and not answer:
            continue
        if not question or not answer:
            missing = "question" if not question else "answer"
            raise ParseError(filename, f"{where} has no {missing}")
        eid = cell_text(record.get("id")) or entry_id(question)
        if eid in seen:
            raise ParseError(filename, f"{where} repeats the id or question of {seen[eid]}")
        seen[eid] = where
        similar = tuple(s for s in split_similar(record.get("similar")) if s != question)
        entries.append(FaqEntry(id=eid, question=question, answer=answer, similar=similar,
                                category=cell_text(record.get("category"))))
    return entries


def faq_chunk(entry: FaqEntry, *, source_id: str, title: str = "", knowledge_type: str = "faq",
              position: int = 0) -> Chunk:
    search_text = "\n".join((entry.question, *entry.similar))
    metadata: dict[str, Any] = {"category": entry.category} if entry.category else {}
    return Chunk(
        source_id=source_id,
        text=f"问：{entry.question}\n答：{entry.answer}",
        knowledge_type=knowledge_type,
        block_id=entry.id,
        title=title,
        search_text=search_text,
        question=entry.question,
        answer=entry.answer,
        position=position,
        metadata=metadata,
    )


def faq_chunks(source_id: str, entries: Iterable[FaqEntry], *, title: str = "",
               knowledge_type: str = "faq") -> list[Chunk]:
    return [faq_chunk(e, source_id=source_id, title=title, knowledge_type=knowledge_type, position=i)
            for i, e in enumerate(entries)]
