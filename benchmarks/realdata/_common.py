"""Shared helpers for the real-data build scripts: read a file from a fetched mirror, cluster question pairs,
split queries into a development and a held-out share, write the `--kb/--docs/--queries` files."""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(os.environ.get("LARKDESK_REALDATA", Path.home() / ".cache" / "larkdesk" / "realdata"))


def git_blob(mirror: Path, commit: str, path: str) -> bytes:
    """One file of a fetched snapshot (a bare git directory) at a pinned commit."""
    return subprocess.run(["git", "-C", str(mirror), "show", f"{commit}:{path}"], check=True,
                          capture_output=True).stdout


def components(pairs: Iterable[tuple[str, str, bool]]) -> list[list[str]]:
    """Connected components of the positive pairs (union-find), members in first-seen order; singletons too."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, same in pairs:
        ra, rb = find(a), find(b)
        if same and ra != rb:
            parent[ra] = rb
    groups: dict[str, list[str]] = defaultdict(list)
    for x in parent:
        groups[find(x)].append(x)
    return list(groups.values())


def split_queries(rows: Sequence[dict[str, Any]], *, heldout_share: float, seed: int) -> tuple[list, list]:
    """Covered and uncovered queries are split separately, so both shares hold both kinds."""
    rng = random.Random(seed)
    dev: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    for covered in (True, False):
        part = [r for r in rows if _covered(r) == covered]
        rng.shuffle(part)
        cut = round(len(part) * heldout_share)
        held += part[:cut]
        dev += part[cut:]
    return dev, held


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _covered(row: dict[str, Any]) -> bool:
    return bool(row.get("gold_id") or row.get("gold_doc_id"))


def write_queries(target: Path, dev: Sequence[dict[str, Any]], held: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Both query shares; returns their counts for the manifest."""
    write_jsonl(target / "queries_dev.jsonl", dev)
    write_jsonl(target / "queries_heldout.jsonl", held)
    return {"queries_dev": len(dev), "queries_heldout": len(held),
            "uncovered_dev": sum(1 for q in dev if not _covered(q)),
            "uncovered_heldout": sum(1 for q in held if not _covered(q))}


def write_manifest(out: Path, **info: Any) -> None:
    (out / "MANIFEST.json").write_text(json.dumps(info, ensure_ascii=False, indent=1), encoding="utf-8")
