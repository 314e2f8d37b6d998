"""Hostile-input benchmark: what bombs, a 10,000-body fuzz and a conversation full of personal numbers do to a
running larkdesk.

The bot runs as its own `larkdesk serve` process (real redis-server, the bundled emulator as Feishu, a local
OpenAI-compatible server as the LLM, default limits). Measured, in order:
1. each upload bomb (generated here: .docx zip bombs of 1 GB and 100 MB, a .docx of 3,000 files, a PDF with a
   70 MB Flate stream, a 100,000-page PDF, a 200,000-row FAQ .xlsx): HTTP status, the limit named, seconds, the
   server's peak RSS while it ran and the parse process's; /healthz latency meanwhile; the server's RSS before
   and after all of them;
2. a legitimate 20,000-row FAQ .xlsx: time to the 202, and the job's progress after `--job-seconds`;
3. 10,000 seeded hostile bodies (tests/hostile/fuzz.py) at the webhook and the REST API: status counts and 5xx;
4. a conversation full of phone, ID-card, bank-card numbers and e-mail addresses (Feishu and REST customers, an
   escalation, a claim, relays) then, once the event queue is worked off (`queue_drained_s`: a queued event holds
   the words as sent), a scan of Redis, the server's log, REST views, cards and threads in the agent group, and
   the LLM prompts: `unmasked_pii_found` (target 0).

    python benchmarks/hostile.py [--fuzz 10000] [--job-seconds 30]
    python benchmarks/hostile.py --quick      # what CI runs: the small bombs, 1,000 fuzz bodies, a 5 s job wait
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from _harness import ROOT, BotProcess, RedisServerProcess, percentile, wait_port

from config.settings import Settings
from emulator import Emulator, EmulatorConfig
from observability.logging import configure_logging
from tests.hostile import bombs
from tests.hostile.fuzz import SESSION, requests
from tests.hostile.pii_scan import MESSAGES, leaks, lookalikes, redis_contents
from tests.hostile.test_privacy import model
from tests.integration.test_knowledge import FAQ
from tests.openai_chat_server import OpenAIChatServer
from tests.signing import ENCRYPT_KEY, TOKEN

AGENT_CHAT = "oc_agents"
AGENTS = {"ou_agent_ann": "Ann", "ou_agent_bob": "Bob"}
MB = 1024 * 1024
QUEUE_STREAM = Settings.model_fields["queue_stream"].default  # the bot process runs with the default


class LoggedBot(BotProcess):
    """The harness's bot process with its log (stderr) kept in a file, to scan it afterwards."""

    def __init__(self, *args, log_path: Path, **env: str) -> None:
        super().__init__(*args, **env)
        self.log_path = log_path

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=self.env, cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        wait_port(self.port, timeout_s=120)

    def stop(self) -> None:
        super().stop()
        self._log.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def rss_mb(pid: int) -> tuple[float, float]:
    """(server RSS, largest child RSS) in MB."""
    try:
        proc = psutil.Process(pid)
        children = [c.memory_info().rss for c in proc.children(recursive=True) if c.is_running()]
        return proc.memory_info().rss / MB, max(children, default=0) / MB
    except psutil.Error:
        return 0.0, 0.0


class Sampler:
    """Peak RSS of the server and of its children, and /healthz latency, sampled while something runs."""

    def __init__(self, pid: int, base_url: str, http: aiohttp.ClientSession) -> None:
        self.pid, self.base_url, self.http = pid, base_url, http
        self.server_peak = self.child_peak = 0.0
        self.healthz_ms: list[float] = []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            server, child = rss_mb(self.pid)
            self.server_peak, self.child_peak = max(self.server_peak, server), max(self.child_peak, child)
            started = time.perf_counter()
            async with self.http.get(self.base_url + "/healthz") as resp:
                await resp.read()
            self.healthz_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)


def _form(path: Path) -> aiohttp.FormData:
    data = aiohttp.FormData()
    data.add_field("file", path.read_bytes(), filename=path.name, content_type="application/octet-stream")
    return data


def _kb(path: Path) -> int:
    return round(path.stat().st_size / 1024)


def _temp_folders_left(root: Path) -> int:
    return len([p for p in root.iterdir() if p.name.startswith(("larkdesk-upload-", "larkdesk-parse-"))])


async def upload(http: aiohttp.ClientSession, base_url: str, path: Path) -> tuple[int, dict]:
    async with http.post(base_url + "/api/v1/knowledge/ingest", data=_form(path)) as resp:
        return resp.status, await resp.json()


async def measured_upload(http, bot: LoggedBot, path: Path, healthz: list[float]) -> dict:
    stop = asyncio.Event()
    sampler = Sampler(bot.proc.pid, bot.base_url, http)
    task = asyncio.create_task(sampler.run(stop))
    started = time.perf_counter()
    status, body = await upload(http, bot.base_url, path)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    healthz.extend(sampler.healthz_ms)
    error = body.get("error") or {}
    return {"file_kb": _kb(path), "status": status,
            "limit": (error.get("details") or {}).get("limit", ""), "seconds": round(seconds, 2),
            "server_peak_rss_mb": round(sampler.server_peak, 1), "parse_peak_rss_mb": round(sampler.child_peak, 1)}


def build_bombs(folder: Path, quick: bool) -> dict[str, Path]:
    """`quick` leaves out the two that take longest to build (the 1 GB docx, the 200,000-row xlsx)."""
    built = {}
    if not quick:
        built["docx_zip_bomb_1gb"] = bombs.docx_bomb(folder / "bomb-1g.docx", 1024 * MB)
    built.update({
        "docx_zip_bomb_100mb": bombs.docx_bomb(folder / "bomb-100m.docx", 100 * MB),
        "docx_3000_files": bombs.many_members_zip(folder / "members.docx", 3000),
        "pdf_flate_70mb_stream": bombs.pdf_flate_bomb(folder / "flate.pdf", 70 * MB),
        "pdf_100000_pages": bombs.pdf_many_pages(folder / "pages.pdf", 100_000),
    })
    if not quick:
        built["faq_xlsx_200000_rows"] = bombs.faq_xlsx(folder / "faq-200k.xlsx", 200_000)
    return built


async def large_faq_job(http, bot: LoggedBot, folder: Path, wait_s: float) -> dict:
    path = bombs.faq_xlsx(folder / "faq-20k.xlsx", 20_000)
    started = time.perf_counter()
    status, job = await upload(http, bot.base_url, path)
    accepted = time.perf_counter() - started
    out = {"file_kb": _kb(path), "status": status, "accept_s": round(accepted, 2)}
    if status != 202:
        out["error"] = job.get("error")
        return out
    stop = asyncio.Event()
    sampler = Sampler(bot.proc.pid, bot.base_url, http)
    task = asyncio.create_task(sampler.run(stop))
    await asyncio.sleep(wait_s)
    async with http.get(f"{bot.base_url}/api/v1/knowledge/jobs/{job['job_id']}") as resp:
        job = await resp.json()
    stop.set()
    await task
    out.update({"job_status_after_s": wait_s, "job_status": job["status"], "rows_embedded": job["done"],
                "rows_to_embed": job["total"],
                "healthz_p99_ms_during_job": round(percentile(sampler.healthz_ms, 99), 1),
                "server_peak_rss_mb_during_job": round(sampler.server_peak, 1)})
    return out


async def fuzz(http, bot: LoggedBot, count: int) -> tuple[dict[str, int], int, int]:
    async with http.post(bot.base_url + "/api/v1/chat", json={"message": "你好", "user_id": "u_fuzz"}) as resp:
        session_id = (await resp.json())["session_id"]
    statuses: dict[str, int] = {}
    server_5xx = tracebacks = 0
    items = list(requests(20261129, count))
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        nonlocal server_5xx, tracebacks
        while not queue.empty():
            item = queue.get_nowait()
            async with http.request(item.method, bot.base_url + item.path.replace(SESSION, session_id),
                                    data=item.body, headers=item.headers) as resp:
                text = await resp.text(errors="replace")
            statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
            server_5xx += resp.status >= 500
            tracebacks += "Traceback" in text

    await asyncio.gather(*(worker() for _ in range(8)))
    return dict(sorted(statuses.items())), server_5xx, tracebacks


async def pii_conversation(emulator: Emulator, http, bot: LoggedBot) -> list[str]:
    """Feishu and REST customers full of personal numbers, an escalation, a claim, relays; the REST session ids."""
    first = await emulator.send_user_message("ou_pii", MESSAGES[0].replace("，转人工", "，东西收到了想退货，怎么弄？"))
    await emulator.wait_for_message(lambda m: m.get("parent_id") == first["message_id"], 30)
    await emulator.send_user_message("ou_pii", MESSAGES[1] + "，转人工")
    card = await emulator.wait_for_message(
        lambda m: m["chat_id"] == AGENT_CHAT and m["msg_type"] == "interactive" and not m.get("parent_id"), 30)
    session_id = next(b["value"]["session"] for el in card["content"]["body"]["elements"]
                      for b in el.get("behaviors", []) if b.get("value", {}).get("action") == "claim")
    await emulator.send_user_message("ou_pii", MESSAGES[2])
    await emulator.wait_for_message(lambda m: m.get("root_id") == card["message_id"] and "卡号" in m["text"], 30)
    await emulator.click_card(card["message_id"], "ou_agent_ann", {"action": "claim", "session": session_id})
    await emulator.send_user_message("ou_pii", MESSAGES[3])
    await emulator.wait_for_message(lambda m: m.get("root_id") == card["message_id"] and "邮箱" in m["text"], 30)
    ids = [session_id]
    async with http.post(bot.base_url + "/api/v1/chat", json={"message": MESSAGES[0], "user_id": "u_pii"}) as r:
        ids.append((await r.json())["session_id"])
    for text in MESSAGES[1:]:
        async with http.post(bot.base_url + "/api/v1/chat", json={"message": text, "session_id": ids[1]}) as r:
            await r.read()
    await emulator.wait_idle()
    return ids


async def queue_drained(redis_url: str, timeout_s: float = 60.0) -> float | None:
    """Seconds until the event stream is empty (None: still not after `timeout_s`)."""
    import redis.asyncio as aioredis

    started = time.perf_counter()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        while time.perf_counter() - started < timeout_s:
            if await client.xlen(QUEUE_STREAM) == 0:  # 0 for a stream never created too
                return round(time.perf_counter() - started, 1)
            await asyncio.sleep(0.2)
        return None
    finally:
        await client.aclose()


async def pii_scan(emulator: Emulator, http, bot: LoggedBot, redis_url: str, llm: OpenAIChatServer,
                   session_ids: list[str]) -> dict:
    import redis.asyncio as aioredis

    found: dict = {}
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        contents = await redis_contents(client)
    finally:
        await client.aclose()
    leaking = {k: leaks(k + " " + v) for k, v in contents.items()}
    found["redis"] = sum(len(v) for v in leaking.values())
    # Which stores leak (key names with their ids cut off), to say where to look.
    found["redis_keys"] = sorted({re.sub(r"[:_](s_)?[0-9a-f]{16,}.*$", ":…", k) for k, v in leaking.items() if v})
    found["redis_lookalikes"] = sorted({f for k, v in contents.items() for f in lookalikes(v)})
    views = []
    for path in [f"/api/v1/agent/sessions/{sid}" for sid in session_ids] + ["/api/v1/agent/sessions/pending",
                                                                             "/api/v1/monitor/traces?limit=100"]:
        async with http.get(bot.base_url + path) as resp:
            views.append(await resp.text())
    found["rest_views"] = len(leaks("\n".join(views)))
    found["cards_and_threads"] = len(leaks(json.dumps(emulator.bot_messages(AGENT_CHAT), ensure_ascii=False)))
    found["llm_prompts"] = len(leaks("\n".join(r.text for r in llm.requests)))
    found["log"] = len(leaks(await asyncio.to_thread(bot.log_path.read_text, encoding="utf-8", errors="replace")))
    return found


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fuzz", type=int, default=10_000)
    parser.add_argument("--job-seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="the small bombs, 1,000 fuzz bodies, a 5 s job wait")
    args = parser.parse_args()
    if args.quick:
        args.fuzz, args.job_seconds = min(args.fuzz, 1000), min(args.job_seconds, 5.0)
    configure_logging("WARNING", "json")
    work = Path(tempfile.mkdtemp(prefix="larkdesk-bench-hostile-"))
    started = time.perf_counter()

    (work / "tmp").mkdir()  # the server's own TMPDIR: what it leaves there is counted
    redis = RedisServerProcess()
    redis.start()
    emulator = Emulator(EmulatorConfig(verification_token=TOKEN, encrypt_key=ENCRYPT_KEY, chat_qps=1000))
    url = await emulator.start()
    emulator.create_group(AGENT_CHAT, "客服组", members=list(AGENTS), names=list(AGENTS.values()))
    llm = OpenAIChatServer()
    llm.responder = model
    await llm.start()
    bot = LoggedBot(url, redis.url, str(work / "data"), log_path=work / "server.log",
                    FEISHU_VERIFICATION_TOKEN=TOKEN, FEISHU_ENCRYPT_KEY=ENCRYPT_KEY, FEISHU_AGENT_CHAT_ID=AGENT_CHAT,
                    DESK_WORKING_HOURS="", LLM_BASE_URL=llm.base_url, LLM_API_KEY=llm.api_key, LLM_MODEL="test-model",
                    FEISHU_STREAM_REPLIES="false", LOG_LEVEL="INFO", FEISHU_APP_QPS="1000", FEISHU_CHAT_QPS="1000",
                    TMPDIR=str(work / "tmp"))
    bot.start()
    emulator.set_delivery(event_callback_url=bot.base_url + "/feishu/events",
                          card_callback_url=bot.base_url + "/feishu/cards")
    result: dict = {"quick": args.quick}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            faq = work / "faq.jsonl"
            await asyncio.to_thread(faq.write_text, FAQ, encoding="utf-8")
            status, _ = await upload(http, bot.base_url, faq)
            assert status == 201, status
            session_ids = await pii_conversation(emulator, http, bot)
            await asyncio.sleep(1)
            result["server_rss_before_mb"] = round(rss_mb(bot.proc.pid)[0], 1)
            healthz: list[float] = []
            folder = work / "bombs"
            await asyncio.to_thread(folder.mkdir)
            built = await asyncio.to_thread(build_bombs, folder, args.quick)
            result["bombs"] = {name: await measured_upload(http, bot, path, healthz) for name, path in built.items()}
            result["healthz_p99_ms_during_bombs"] = round(percentile(healthz, 99), 1)
            await asyncio.sleep(1)
            result["server_rss_after_mb"] = round(rss_mb(bot.proc.pid)[0], 1)
            result["temp_folders_left"] = _temp_folders_left(work / "tmp")
            result["faq_20000_rows"] = await large_faq_job(http, bot, folder, args.job_seconds)
            fuzz_started = time.perf_counter()
            statuses, server_5xx, tracebacks = await fuzz(http, bot, args.fuzz)
            result.update({"fuzz_bodies": args.fuzz, "fuzz_status_counts": statuses, "server_5xx": server_5xx,
                           "tracebacks_in_answers": tracebacks,
                           "fuzz_s": round(time.perf_counter() - fuzz_started, 1)})
            # An event still queued holds the customer's words as sent (it is deleted once handled): what is
            # checked is what stays stored, so the fuzzed events are worked off first.
            result["queue_drained_s"] = await queue_drained(redis.url)
            where = await pii_scan(emulator, http, bot, redis.url, llm, session_ids)
            result["unmasked_pii_found"] = sum(v for v in where.values() if isinstance(v, int))
            result["unmasked_pii_by_place"] = where
    finally:
        bot.stop()
        await llm.stop()
        await emulator.stop()
        redis.stop()
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, ensure_ascii=False))
    broken = (result.get("server_5xx") != 0 or result.get("unmasked_pii_found") != 0
              or any(bomb["status"] != 413 for bomb in result.get("bombs", {}).values()))
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    asyncio.run(main())
