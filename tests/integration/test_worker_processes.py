"""`larkdesk serve` with WORKER_PROCESSES: the front only acknowledges; a `larkdesk worker` process answers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.redis_server import free_port

pytestmark = pytest.mark.integration


def wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


def test_front_acks_and_a_worker_process_answers(tmp_path, real_redis_url):
    port, emulator_port = free_port(), free_port()
    env = {**os.environ, "REDIS_URL": real_redis_url, "WORKER_PROCESSES": "1", "PORT": str(port),
           "EMULATOR_PORT": str(emulator_port), "DATA_DIR": str(tmp_path), "SAMPLE_KB": "false",
           "BOT_RESPONDER": "echo", "FEISHU_APP_ID": "", "LOG_FORMAT": "json", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz").json()
        assert ready["checks"] == {"redis": "ok", "workers": "ok"}  # the front leaves the vector store to its worker
        emulator = f"http://127.0.0.1:{emulator_port}"
        sent = httpx.post(f"{emulator}/_emulator/users/messages", json={"open_id": "ou_w", "text": "你好"}).json()
        deadline = time.monotonic() + 60
        replies: list[dict] = []
        while time.monotonic() < deadline and not replies:
            listed = httpx.get(f"{emulator}/_emulator/chats/{sent['chat_id']}/messages").json()["items"]
            replies = [m for m in listed if m.get("parent_id") == sent["message_id"]]
            time.sleep(0.2)
        assert [m["text"] for m in replies] == ["收到：你好"]
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output[-2000:]
    assert '"worker_processes": 1' in output and "worker.started" in output
