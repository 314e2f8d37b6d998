"""The Grafana dashboard only queries metrics (and labels) that the code actually exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from observability import metrics
from observability.metrics import REGISTRY

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana" / "larkdesk-dashboard.json"
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "summary": ("_sum", "_count", ""),
}
_METRIC = re.compile(r"\b(larkdesk_[a-z0-9_]+)")
_MATCHERS = re.compile(r"\b(larkdesk_[a-z0-9_]+)\{([^}]*)\}")
_BY = re.compile(r"\bby\s*\(([^)]*)\)")


def _series_names() -> set[str]:
    """Series names as Prometheus scrapes them, whether or not a labelled metric has been used yet."""
    names = set()
    for family in REGISTRY.collect():
        names.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
    return names


def _labels() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            base = value._name
            for suffix in (*_SUFFIXES["histogram"], "_total", ""):
                out[base + suffix] = set(value._labelnames) | ({"le"} if suffix == "_bucket" else set())
    return out


def _panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_dashboard_shape(dashboard):
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"


def test_every_expr_uses_exported_metrics_and_labels(dashboard):
    series = _series_names()
    labels = _labels()
    exprs = [(p["title"], t["expr"]) for p in _panels(dashboard) for t in p.get("targets", [])]
    assert len(exprs) >= 15
    for title, expr in exprs:
        used = _METRIC.findall(expr)
        assert used, f"{title}: no larkdesk metric in {expr!r}"
        for name in used:
            assert name in series, f"{title}: {name} is not exported by observability.metrics"
        for name, matchers in _MATCHERS.findall(expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
                assert label in labels[name], f"{title}: {name} has no label {label!r}"
        allowed = set().union(*(labels[n] for n in used))
        for group in _BY.findall(expr):
            for label in filter(None, (g.strip() for g in group.split(","))):
                assert label in allowed, f"{title}: grouping by {label!r}, which {used} lack"


def test_dashboard_covers_the_required_panels(dashboard):
    text = " ".join(t["expr"] for p in _panels(dashboard) for t in p.get("targets", []))
    for name in (
        "larkdesk_step_seconds_bucket", "larkdesk_ingress_ack_seconds_bucket", "larkdesk_queue_depth",
        "larkdesk_dead_letters_total", "larkdesk_escalations_total", "larkdesk_claims_total",
        "larkdesk_resolutions_total", "larkdesk_cache_lookups_total", "larkdesk_llm_tokens_total",
        "larkdesk_sessions_pending", "larkdesk_csat_score_sum",
    ):
        assert name in text, name
    assert "histogram_quantile(0.5," in text and "histogram_quantile(0.99," in text


def test_cache_hit_ratio_uses_the_outcome_the_cache_records(dashboard):
    """rag/cache.py records outcome "hit"/"miss"; a renamed value would silently zero the panel."""
    source = (Path(__file__).resolve().parents[2] / "rag" / "cache.py").read_text(encoding="utf-8")
    recorded = set(re.findall(r'"(\w+)"', source.split("CACHE_LOOKUPS.labels(", 1)[1].split("\n", 1)[0]))
    text = " ".join(t["expr"] for p in _panels(dashboard) for t in p.get("targets", []))
    used = set(re.findall(r'larkdesk_cache_lookups_total\{outcome="(\w+)"\}', text))
    assert used and used <= recorded, (used, recorded)
