"""Engines the reliability tests stop and start again: a redis-server with AOF on a fixed port and directory
(the Milvus one is `tests.rag.store_conftest.MilvusLiteServer`, which halts and starts again as it is)."""

from __future__ import annotations

import signal

from tests.redis_server import RedisServerProcess


class RestartableRedis(RedisServerProcess):
    """A redis-server with append-only persistence that can be killed (-9) and started again on the same
    port and data directory, as an operator's restart or a crash would."""

    def __init__(self) -> None:
        super().__init__(appendonly=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
