"""Every benchmark's short mode, run as CI runs it: a benchmark that no longer measures what it says (lost or
duplicated messages, errors, broken invariants) fails here instead of rotting. The chaos suite's short cases
are here too: kill -9 of a worker, a front and a whole serve, Redis restarted, Milvus stopped, the LLM and
Feishu misbehaving, with nothing lost or doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def run_quick(script: str, timeout_s: float) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert done.returncode == 0, f"{script} --quick failed ({done.returncode}):\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-3000:]}"
    result = json.loads(lines[-1])
    assert result["quick"] is True
    return result


def test_chaos_quick_loses_and_doubles_nothing_and_recovers_by_itself():
    result = run_quick("chaos.py", 900)
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["recovered_without_manual_action"] is True
    assert set(result["cases"]) == {"kill_worker_process", "kill_front", "kill_serve", "redis_restart",
                                    "milvus_outage", "llm_hang", "llm_429", "llm_garbage", "feishu_429_5xx"}
    assert result["cases"]["milvus_outage"]["doc_edit_synced_after_outage"] is True


def test_ingress_quick_counts_only_what_came_to_nothing_as_lost():
    result = run_quick("ingress.py", 300)
    assert result["lost"] == 0 and result["duplicates"] == 0 and result["ack_non_200"] == 0


def test_desk_quick_has_one_winner_per_round():
    result = run_quick("desk.py", 300)
    assert result["rounds_without_exactly_one_winner"] == 0


def test_freshness_quick_reembeds_only_the_edited_block():
    result = run_quick("freshness.py", 300)
    assert result["chunks_reembedded_per_edit_max"] <= 1


def test_chat_api_quick_answers_without_errors():
    result = run_quick("chat_api.py", 400)
    assert result["chat_errors_cache_off"] == 0 and result["chat_errors_cache_on"] == 0


def test_retrieval_scale_quick_measures_every_size():
    result = run_quick("retrieval_scale.py", 400)
    assert "rss_mb_2k" in result


def test_hostile_quick_has_no_5xx_no_unmasked_number_and_refuses_every_bomb():
    result = run_quick("hostile.py", 600)
    assert result["server_5xx"] == 0 and result["tracebacks_in_answers"] == 0
    assert result["unmasked_pii_found"] == 0, result["unmasked_pii_by_place"]
    assert {bomb["status"] for bomb in result["bombs"].values()} == {413}, result["bombs"]
    assert result["temp_folders_left"] == 0
    assert result["faq_20000_rows"]["status"] == 202
