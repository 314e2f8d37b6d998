"""`larkdesk serve` supervises its worker processes: a killed worker is restarted, /readyz tells while none
is alive, and workers never outlive their server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_worker_processes import wait_http
from tests.redis_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(x) for x in text]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def until(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout_s} s")


def ask(emulator: str, open_id: str, text: str, timeout_s: float = 30) -> list[dict]:
    sent = httpx.post(f"{emulator}/_emulator/users/messages", json={"open_id": open_id, "text": text}).json()

    def replies():
        listed = httpx.get(f"{emulator}/_emulator/chats/{sent['chat_id']}/messages").json()["items"]
        return [m for m in listed if m.get("parent_id") == sent["message_id"]]

    return until(replies, timeout_s, f"a reply to {text!r}")


@pytest.fixture
def served(tmp_path, real_redis_url):
    port, emulator_port = free_port(), free_port()
    env = {**os.environ, "REDIS_URL": real_redis_url, "WORKER_PROCESSES": "1", "PORT": str(port),
           "EMULATOR_PORT": str(emulator_port), "DATA_DIR": str(tmp_path), "SAMPLE_KB": "false",
           "BOT_RESPONDER": "echo", "FEISHU_APP_ID": "", "LOG_FORMAT": "json", "OMP_NUM_THREADS": "1",
           "QUEUE_RECLAIM_IDLE_MS": "1500"}
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield server, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}"
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.communicate(timeout=60)


def test_a_killed_worker_is_restarted_and_readiness_says_so(served):
    server, base, emulator = served
    until(lambda: httpx.get(f"{base}/readyz").status_code == 200, 60, "ready")
    assert [m["text"] for m in ask(emulator, "ou_s1", "你好")] == ["收到：你好"]
    (worker,) = children(server.pid)
    os.kill(worker, signal.SIGKILL)
    until(lambda: httpx.get(f"{base}/readyz").status_code == 503, 5, "not ready while no worker lives")
    until(lambda: httpx.get(f"{base}/readyz").status_code == 200, 30, "ready again")
    (replacement,) = children(server.pid)
    assert replacement != worker and not alive(worker)  # restarted, and the dead one reaped (no zombie)
    assert [m["text"] for m in ask(emulator, "ou_s2", "还在吗")] == ["收到：还在吗"]
    metrics = httpx.get(f"{base}/metrics").text
    assert 'larkdesk_supervised_restarts_total{component="worker_process"} 1.0' in metrics


def test_workers_exit_when_their_server_is_killed(served):
    server, base, _emulator = served
    until(lambda: httpx.get(f"{base}/readyz").status_code == 200, 60, "ready")
    (worker,) = children(server.pid)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    until(lambda: not alive(worker), 15, "the orphaned worker's exit")
