"""The `larkdesk` console commands a user runs: ingest (progress + summary) and eval retrieval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_knowledge import FAQ

pytestmark = pytest.mark.integration


def larkdesk(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "REDIS_URL": "", "MILVUS_URI": "", "LOG_FORMAT": "json",
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env,
                          timeout=180, check=False)


def test_ingest_reports_progress_a_summary_and_each_failure(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.jsonl").write_text(FAQ, encoding="utf-8")
    policy = "# 退货政策\n\n签收后7天内可无理由退货，商品需保持完好，配件齐全。\n"
    (docs / "policy.md").write_text(policy, encoding="utf-8")
    (docs / "notes.xyz").write_text("?", encoding="utf-8")
    done = larkdesk("ingest", str(docs), data_dir=tmp_path / "data")
    assert done.returncode == 1  # one file failed
    assert "ingested 2/3 files" in done.stdout
    assert "FAILED" in done.stderr and "notes.xyz" in done.stderr and ".md" in done.stderr
    assert "[##############################] 3/3" in done.stderr


def test_eval_retrieval_prints_the_figures(tmp_path):
    kb = tmp_path / "kb.jsonl"
    kb.write_text(FAQ, encoding="utf-8")
    queries = tmp_path / "q.jsonl"
    rows = [{"query": "东西想退了怎么弄", "gold_id": "ret-1"}, {"query": "电子发票多久能收到", "gold_id": "inv-1"},
            {"query": "你们公司在哪个城市", "gold_id": None}]
    queries.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    done = larkdesk("eval", "retrieval", "--kb", str(kb), "--queries", str(queries), data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["n"] == 3 and figures["hit@1"] == 1.0
    assert {"hit@5", "mrr@10", "p50_ms", "p99_ms", "answered_right", "answered_wrong", "suggested_with_gold",
            "suggested_without_gold", "handed_over", "answer_precision", "oov_answered", "oov_suggested",
            "oov_handed_over", "config"} <= set(figures)
    covered = ("answered_right", "answered_wrong", "suggested_with_gold", "suggested_without_gold", "handed_over")
    assert abs(sum(figures[k] for k in covered) - 1.0) < 1e-6  # every answerable query lands in one outcome
    assert abs(figures["oov_answered"] + figures["oov_suggested"] + figures["oov_handed_over"] - 1.0) < 1e-6
