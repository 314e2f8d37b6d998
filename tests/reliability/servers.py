"""Engines the reliability tests stop and start again: a redis-server with AOF on a fixed port and directory."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile

from tests.redis_server import RedisServerProcess, free_port, wait_port


class RestartableRedis(RedisServerProcess):
    """A redis-server with append-only persistence that can be killed (-9) and started again on the same
    port and data directory, as an operator's restart or a crash would."""

    def __init__(self) -> None:
        super().__init__(appendonly=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class RestartableMilvus:
    """`milvus-lite server` on a fixed port and data directory that can be stopped and started again (an
    outage of the vector store), keeping its data."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="larkdesk-milvus-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        import os

        from tests.rag.store_conftest import milvus_lite_executable

        self.proc = subprocess.Popen(
            [milvus_lite_executable(), "server", "--data-dir", self.dir, "--host", "127.0.0.1", "--port",
             str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        wait_port(self.port, timeout_s)

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
