"""The real-data FAQ builder (benchmarks/realdata/build_pairs_faq.py) on a tiny pair file in a real git repo."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[2] / "benchmarks" / "realdata"


@pytest.fixture
def builder(monkeypatch):
    monkeypatch.syspath_prepend(str(REALDATA))
    sys.modules.pop("build_pairs_faq", None)
    import build_pairs_faq

    return build_pairs_faq


def _mirror(tmp_path: Path, clusters: list[list[str]]) -> tuple[Path, str]:
    """A git repo holding a BQ-style pair file (sentence TAB sentence TAB label): each cluster is a chain of
    positive pairs, and one negative pair links the first two clusters (it must not merge them)."""
    lines = [f"{a}\t{b}\t1" for members in clusters for a, b in itertools.pairwise(members)]
    lines.append(f"{clusters[0][0]}\t{clusters[1][0]}\t0")
    repo = tmp_path / "mirror"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "pairs"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    return repo, commit


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_min_cluster_keeps_only_recurring_questions(builder, tmp_path, monkeypatch):
    sizes = [2, 6, 3, 5, 2, 7, 4, 2, 5, 2]
    clusters = [[f"问题{i}-{j}" for j in range(size)] for i, size in enumerate(sizes)]
    repo, commit = _mirror(tmp_path, clusters)
    monkeypatch.setitem(builder.SOURCES, "bq", {"repo": "t/t", "commit": commit, "path": "data/pairs.tsv",
                                                 "columns": (0, 1, 2)})
    out = tmp_path / "out"
    info = builder.build("bq", repo, out, seed=1, heldout_share=0.5, entries=100, uncovered=2, min_cluster=5,
                         out_name="bq-recurring")
    target = out / "bq-recurring"
    kb = _read(target / "kb.jsonl")
    queries = _read(target / "queries_dev.jsonl") + _read(target / "queries_heldout.jsonl")
    by_entry: dict[str, int] = {}
    for q in queries:
        if q["gold_id"]:
            by_entry[q["gold_id"]] = by_entry.get(q["gold_id"], 0) + 1
    assert info["name"] == "bq-recurring" and info["min_cluster"] == 5
    assert kb and all(by_entry[e["id"]] >= 4 for e in kb)  # an entry's question + at least 4 other wordings
    assert sum(1 for q in queries if not q["gold_id"]) == 2  # one member of each uncovered cluster
    # every covered query is a member of its entry's own cluster
    cluster_of = {m: i for i, members in enumerate(clusters) for m in members}
    questions = {e["id"]: e["question"] for e in kb}
    assert all(cluster_of[q["query"]] == cluster_of[questions[q["gold_id"]]] for q in queries if q["gold_id"])


def test_default_keeps_every_cluster_of_two_or_more(builder, tmp_path, monkeypatch):
    clusters = [[f"问{i}-{j}" for j in range(size)] for i, size in enumerate([2, 3, 2, 4])]
    repo, commit = _mirror(tmp_path, clusters)
    monkeypatch.setitem(builder.SOURCES, "bq", {"repo": "t/t", "commit": commit, "path": "data/pairs.tsv",
                                                 "columns": (0, 1, 2)})
    info = builder.build("bq", repo, tmp_path / "out", seed=1, heldout_share=0.5, entries=100, uncovered=1)
    assert info["entries"] == 3 and info["name"] == "bq"
