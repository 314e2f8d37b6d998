"""Validity of the retrieval development set under benchmarks/data (static files, no product code)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[2] / "benchmarks" / "data"
FAQ_QUERY_FILES = ("faq_queries.jsonl", "faq_queries_heldout.jsonl")

pytestmark = pytest.mark.unit


def load(name: str) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate((DATA / name).read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"{name}:{n} is blank"
        row = json.loads(line)
        assert isinstance(row, dict), f"{name}:{n} is not an object"
        rows.append(row)
    return rows


def norm(text: str) -> str:
    """Width, case, punctuation and spacing folded, so 'exact copy' also catches trivial variants."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


def cjk_chars(text: str) -> int:
    return len(re.findall(r"[\u4e00-\u9fff]", text))


@pytest.fixture(scope="module")
def kb() -> list[dict[str, Any]]:
    return load("faq_kb.jsonl")


@pytest.fixture(scope="module")
def faq_queries() -> dict[str, list[dict[str, Any]]]:
    return {name: load(name) for name in FAQ_QUERY_FILES}


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return load("policy_docs.jsonl")


@pytest.fixture(scope="module")
def policy_queries() -> list[dict[str, Any]]:
    return load("policy_queries.jsonl")


def test_kb_entries_are_complete_and_unique(kb):
    ids = [e["id"] for e in kb]
    assert len(ids) == len(set(ids))
    assert 160 <= len(kb) <= 200
    for e in kb:
        assert re.fullmatch(r"faq-\d{4}", e["id"]), e["id"]
        assert isinstance(e["question"], str) and e["question"].strip()
        assert isinstance(e["answer"], str) and len(e["answer"]) >= 60, e["id"]
        similar = e.get("similar", [])
        assert isinstance(similar, list) and all(isinstance(s, str) and s.strip() for s in similar), e["id"]
        assert len(similar) <= 3, e["id"]
    assert sum(1 for e in kb if e.get("similar")) >= 0.8 * len(kb)
    questions = [norm(e["question"]) for e in kb]
    assert len(questions) == len(set(questions))


def test_faq_queries_point_at_existing_entries(kb, faq_queries):
    ids = {e["id"] for e in kb}
    for name, rows in faq_queries.items():
        for r in rows:
            assert isinstance(r["query"], str) and r["query"].strip(), name
            gold = r["gold_id"]
            alts = r.get("alt_gold_ids", [])
            if gold is None:
                assert not alts, r
                continue
            assert gold in ids, r
            assert alts == [] or (set(alts) <= ids and gold not in alts and len(alts) == len(set(alts))), r


def test_faq_query_counts_and_split(kb, faq_queries):
    dev, held = (faq_queries[n] for n in FAQ_QUERY_FILES)
    everything = dev + held
    covered = [r for r in everything if r["gold_id"] is not None]
    nulls = [r for r in everything if r["gold_id"] is None]
    assert 3.0 <= len(covered) / len(kb) <= 4.0
    assert 60 <= len(nulls) <= 100
    for rows in (dev, held):
        assert sum(1 for r in rows if r["gold_id"] is None) > 0
    assert 0.2 <= len(held) / len(everything) <= 0.3
    # Every entry is asked about at least twice, so a per-entry miss is never a single-query accident.
    per_entry: dict[str, int] = {}
    for r in covered:
        per_entry[r["gold_id"]] = per_entry.get(r["gold_id"], 0) + 1
    assert {e["id"] for e in kb} == set(per_entry)
    assert min(per_entry.values()) >= 2


def test_no_query_copies_the_kb_or_repeats(kb, faq_queries):
    kb_texts = {norm(t) for e in kb for t in (e["question"], *e.get("similar", []))}
    seen: set[str] = set()
    for rows in faq_queries.values():
        for r in rows:
            n = norm(r["query"])
            assert n not in kb_texts, f"query copies a KB question: {r['query']}"
            assert n not in seen, f"duplicate query (also across dev/held-out): {r['query']}"
            seen.add(n)


def test_policy_documents_are_long_structured_markdown(docs):
    assert 4 <= len(docs) <= 6
    assert len({d["doc_id"] for d in docs}) == len(docs)
    for d in docs:
        text = d["text"]
        assert d["doc_id"].startswith("policy-")
        assert 1500 <= cjk_chars(text) <= 4000, (d["doc_id"], cjk_chars(text))
        assert text.startswith("# ")
        assert len(re.findall(r"^## ", text, re.M)) >= 5, d["doc_id"]
        assert re.search(r"^\| ?-{3}", text, re.M), f"{d['doc_id']} has no Markdown table"
        assert len(re.findall(r"^\d+\.\d+ ", text, re.M)) >= 10, f"{d['doc_id']} lacks numbered clauses"


def test_policy_queries_point_at_existing_sections(docs, policy_queries):
    headings = {d["doc_id"]: set(re.findall(r"^## (.+)$", d["text"], re.M)) for d in docs}
    covered = [r for r in policy_queries if r["gold_doc_id"] is not None]
    nulls = [r for r in policy_queries if r["gold_doc_id"] is None]
    assert 100 <= len(covered) <= 160
    assert 10 <= len(nulls) <= 30
    for r in covered:
        assert r["gold_doc_id"] in headings, r
        assert r["section"] in headings[r["gold_doc_id"]], r
    for doc_id in headings:
        assert sum(1 for r in covered if r["gold_doc_id"] == doc_id) >= 15, doc_id
    queries = [norm(r["query"]) for r in policy_queries]
    assert len(queries) == len(set(queries))
