"""Builds an FAQ development set from real customer-service question pairs (ATEC or BQ).

Sources (research-only licences: the data stays out of the repository; fetch it with the `fetch` tool):
- ATEC 2018 (Ant Financial, Alipay 花呗/借呗 customer questions): github liuaiting/ATEC
  @16b0f9a (`data/atec_nlp_sim_train.csv`: id TAB sentence TAB sentence TAB label).
- BQ corpus (WeBank 微粒贷 customer-service questions, Chen et al. 2018, 千言 version): github
  Leroll/awesome-ai-examples @a5ace0217c03cd87da61b9f7f680146f3dbb9bae (`data/bq_corpus/dev.tsv`:
  sentence TAB sentence TAB label).

Positive pairs are clustered into FAQ entries (connected components, the usual way with question-pair data):
one member, drawn at random, is the entry's question; the others are the queries whose gold is that entry.
Whole clusters drawn for no entry give the uncovered queries (one member each).

Pair data spreads one intent over many clusters (customers ask 花呗怎么还款 a hundred ways, and the labelled
pairs link only a few of them), so a KB of many random clusters holds the same question several times and
"wrong" top hits are often right. The KB is therefore a few hundred clusters, the size of one product's real
FAQ, where such collisions are rare (see the defaults). Queries are split into
a development share (tune on it) and a held-out share (report it). Run:

    python benchmarks/realdata/build_pairs_faq.py atec --mirror /work/.mirror/liuaiting+ATEC/repo
    python benchmarks/realdata/build_pairs_faq.py bq --mirror /work/.mirror/Leroll+awesome-ai-examples/repo
    python benchmarks/realdata/build_pairs_faq.py bq --mirror /work/.mirror/Leroll+awesome-ai-examples/repo \
        --min-cluster 5 --entries 1000 --out-name bq-recurring   # for `larkdesk eval learning`

Writes OUT/<name>/kb.jsonl, queries_dev.jsonl, queries_heldout.jsonl, MANIFEST.json.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from _common import DEFAULT_OUT, components, git_blob, split_queries, write_jsonl, write_manifest, write_queries

SOURCES = {
    "atec": {"repo": "liuaiting/ATEC", "commit": "16b0f9a", "path": "data/atec_nlp_sim_train.csv",
             "columns": (1, 2, 3)},
    "bq": {"repo": "Leroll/awesome-ai-examples", "commit": "a5ace0217c03cd87da61b9f7f680146f3dbb9bae",
           "path": "data/bq_corpus/dev.tsv", "columns": (0, 1, 2)},
}


def read_pairs(raw: bytes, columns: tuple[int, int, int]) -> list[tuple[str, str, bool]]:
    a, b, label = columns
    pairs = []
    for line in raw.decode("utf-8").splitlines():
        cells = line.split("\t")
        if len(cells) <= max(columns) or cells[label].strip() not in ("0", "1"):
            continue  # a header or a broken line
        pairs.append((cells[a].strip(), cells[b].strip(), cells[label].strip() == "1"))
    return pairs


def build(name: str, mirror: Path, out: Path, *, seed: int, heldout_share: float, entries: int,
          uncovered: int, min_cluster: int = 2, out_name: str | None = None) -> dict:
    spec = SOURCES[name]
    pairs = read_pairs(git_blob(mirror, spec["commit"], spec["path"]), spec["columns"])
    clusters = sorted((c for c in components(pairs) if len(c) >= 2), key=lambda c: c[0])
    rng = random.Random(seed)
    rng.shuffle(clusters)
    uncovered_clusters = clusters[:uncovered]
    # Entries from clusters of at least `min_cluster` members: questions customers keep asking in new words,
    # where learning from use has something to learn (with 2, most entries get one query).
    kb_clusters = [c for c in clusters[uncovered:] if len(c) >= min_cluster][:entries]
    kb, queries = [], []
    for i, members in enumerate(kb_clusters):
        members = list(members)
        rng.shuffle(members)
        entry_id = f"{name}-{i:05d}"
        kb.append({"id": entry_id, "question": members[0], "answer": f"（{name} 条目 {entry_id} 的答案）{members[0]}"})
        queries += [{"query": q, "gold_id": entry_id} for q in members[1:]]
    for members in uncovered_clusters:
        members = list(members)
        rng.shuffle(members)
        queries.append({"query": members[0], "gold_id": None})
    dev, held = split_queries(queries, heldout_share=heldout_share, seed=seed)
    target = out / (out_name or name)
    write_jsonl(target / "kb.jsonl", kb)
    info = {"name": out_name or name, "source": f"github {spec['repo']}@{spec['commit']}:{spec['path']}", "seed": seed,
            "pairs": len(pairs), "entries": len(kb), "min_cluster": min_cluster, **write_queries(target, dev, held),
            "licence": "research use only"}
    write_manifest(target, **info)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(SOURCES))
    parser.add_argument("--mirror", type=Path, required=True, help="the fetched bare git directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--heldout-share", type=float, default=0.5)
    parser.add_argument("--entries", type=int, help="FAQ entries (default: 500 for atec, 250 for bq)")
    parser.add_argument("--uncovered", type=int, help="clusters held out as uncovered queries (250 / 150)")
    parser.add_argument("--min-cluster", type=int, default=2,
                        help="only clusters of at least this many questions become entries (e.g. 5: recurring ones)")
    parser.add_argument("--out-name", help="the set's folder under --out (default: NAME)")
    args = parser.parse_args()
    entries = args.entries or {"atec": 500, "bq": 250}[args.name]
    uncovered = args.uncovered or {"atec": 250, "bq": 150}[args.name]
    print(build(args.name, args.mirror, args.out, seed=args.seed, heldout_share=args.heldout_share,
                entries=entries, uncovered=uncovered, min_cluster=args.min_cluster, out_name=args.out_name))


if __name__ == "__main__":
    main()
