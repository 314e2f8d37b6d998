"""Milvus backends for the store contract suite: a Milvus Lite file and a `milvus-lite server` process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.redis_server import free_port


def milvus_lite_executable() -> str:
    beside = Path(sys.executable).parent / "milvus-lite"  # the venv's bin, even when it is not on PATH
    if beside.exists():
        return str(beside)
    found = shutil.which("milvus-lite")
    if found is None:
        raise FileNotFoundError("milvus-lite is not installed (pip install milvus-lite)")
    return found


class MilvusLiteServer:
    """`milvus-lite server` on loopback in its own process, with a throwaway data directory. `halt()` stops it
    keeping its data, and `start()` brings it back on the same port (an outage of the vector store)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="larkdesk-milvus-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [milvus_lite_executable(), "server", "--data-dir", self.dir, "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("milvus-lite server did not start")

    def halt(self) -> None:
        """Stop the server (its data stays for the next start)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)
