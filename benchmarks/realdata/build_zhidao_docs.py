"""Builds a question → passage development set from real insurance questions (保险知道, Baidu Zhidao).

Source (no licence stated, crawled content: research use only, so the data stays out of the repository; fetch it
with the `fetch` tool): github Wenkun2001/rag_dataset @619b0e411d4b7167bd61626eb47ac7f48e426604,
`baoxianzhidao_filter.csv` (GBK; title, question, reply, is_best), a copy of SophonPlus/ChineseNlpCorpus
`datasets/baoxianzhidao`.

Each question (its title, as users typed it) is a query; its best replies are passages of the knowledge base
(documents of type `doc`, one per reply, no title, so nothing but the passage itself can match). Rows that
advertise one insurer's products (HUTS / 慧择 plants) are dropped. Questions drawn for no passage give the
uncovered queries. Run:

    python benchmarks/realdata/build_zhidao_docs.py --mirror /work/.mirror/Wenkun2001+rag_dataset/repo

Writes OUT/zhidao/docs.jsonl, queries_dev.jsonl, queries_heldout.jsonl, MANIFEST.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from collections import defaultdict
from pathlib import Path

from _common import DEFAULT_OUT, git_blob, split_queries, write_jsonl, write_manifest, write_queries

REPO, COMMIT, PATH = "Wenkun2001/rag_dataset", "619b0e411d4b7167bd61626eb47ac7f48e426604", "baoxianzhidao_filter.csv"
_ADVERTS = ("HUTS", "huts", "慧择")


def build(mirror: Path, out: Path, *, seed: int, heldout_share: float, covered: int, uncovered: int) -> dict:
    text = git_blob(mirror, COMMIT, PATH).decode("gb18030")
    best: dict[str, list[str]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(text)):
        title, reply = (row.get("title") or "").strip(), (row.get("reply") or "").strip()
        if row.get("is_best") != "1" or not title or len(reply) < 10:
            continue
        if any(w in title or w in reply for w in _ADVERTS):
            continue
        if reply not in best[title]:
            best[title].append(reply)
    titles = sorted(best)
    rng = random.Random(seed)
    rng.shuffle(titles)
    docs, queries = [], []
    for i, title in enumerate(titles[:covered]):
        ids = []
        for j, reply in enumerate(best[title]):
            doc_id = f"zd-{i:05d}-{j}"
            docs.append({"doc_id": doc_id, "title": "", "text": reply})
            ids.append(doc_id)
        queries.append({"query": title, "gold_doc_id": ids[0], "alt_gold_doc_ids": ids[1:]})
    queries += [{"query": title, "gold_doc_id": None} for title in titles[covered:covered + uncovered]]
    dev, held = split_queries(queries, heldout_share=heldout_share, seed=seed)
    target = out / "zhidao"
    write_jsonl(target / "docs.jsonl", docs)
    info = {"name": "zhidao", "source": f"github {REPO}@{COMMIT}:{PATH}", "seed": seed, "passages": len(docs),
            **write_queries(target, dev, held), "licence": "research use only"}
    write_manifest(target, **info)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, required=True, help="the fetched bare git directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--heldout-share", type=float, default=0.5)
    parser.add_argument("--covered", type=int, default=1000, help="questions whose best replies are passages")
    parser.add_argument("--uncovered", type=int, default=300, help="questions without a passage")
    args = parser.parse_args()
    print(build(args.mirror, args.out, seed=args.seed, heldout_share=args.heldout_share, covered=args.covered,
                uncovered=args.uncovered))


if __name__ == "__main__":
    main()
