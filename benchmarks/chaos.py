"""Reliability suite: customers keep writing while parts of production fail; nothing may be lost or doubled.

Topology (the production shape of docker-compose.yml, on loopback): a real redis-server with AOF, a Milvus
server (`milvus-lite server`), the bundled Feishu emulator (signed, encrypted deliveries, Feishu's retry
schedule), an OpenAI-compatible LLM stub, and four larkdesk processes sharing them:
  front, front2  `larkdesk serve` with RUN_WORKERS=false: acknowledge Feishu, behind a proxy that passes a
                 request to the next front when one refuses the connection (nginx's proxy_next_upstream)
  serve          `larkdesk serve` with WORKER_PROCESSES=1: supervises one worker process
  worker         `larkdesk worker`: a worker on "another host"
An orchestrator's restart policy (as `restart: unless-stopped` or a Kubernetes Deployment) starts a larkdesk
process, redis-server again when it exits; nothing else intervenes.

Each case sends --rate customer messages per second for --seconds, every event delivered twice, and injects
its fault a third of the way in: kill -9 of the worker process, of the front, of the whole serve (its worker
dies with it); redis-server killed and started again (AOF); the Milvus server stopped for --milvus-outage-s
(a doc edit during the outage must be synced after it); the LLM hanging, answering 429, answering garbage;
Feishu answering 429 and 5xx in bursts. Every customer asks a question the knowledge base answers.

Per case and overall: `lost` (a message that got neither a reply nor a relay), `duplicated` (replies beyond
one), `max_reply_delay_s`, `dead_letters`, `recovered_without_manual_action` (everything answered and every
process ready again). Prints one JSON object on its last line; exits 1 when anything was lost or duplicated
or did not recover (`--quick`: seconds per case, what CI runs).

    python benchmarks/chaos.py               # 15 msg/s for 60 s per case (~20 min)
    python benchmarks/chaos.py --rate 50     # the production target: needs more than 2 cores (below)
    python benchmarks/chaos.py --quick       # 8 msg/s for 6 s per case (~5 min)

On the 2-core development machine all of it (redis, Milvus server, emulator, LLM stub, four larkdesk processes,
every event delivered twice, an embedding and a Milvus search per message) saturates near 20 msg/s: at 50 msg/s
replies fall minutes behind before any fault, so the default rate is 15.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis.asyncio as aioredis
from _harness import ROOT, percentile

from config.settings import EmulatorDefaults, Settings
from emulator import Emulator, EmulatorConfig
from observability.logging import configure_logging
from tests.openai_chat_server import ChatReply, OpenAIChatServer, rate_limited
from tests.rag.store_conftest import MilvusLiteServer
from tests.redis_server import free_port
from tests.reliability.servers import RestartableRedis

FAQ = [
    ("退货", "怎么申请退货", "在订单详情页点击“申请退货”，7天内可无理由退货。"),
    ("发票", "发票抬头写错了怎么办", "在订单详情页申请换开发票，填写正确抬头后重新开具。"),
    ("取件", "冰箱退货能上门取件吗", "大件家电可预约免费上门取件，预约后48小时内上门。"),
    ("运费", "退货运费谁承担", "质量问题退货运费由商家承担，无理由退货由买家承担。"),
    ("退款", "退款多久到账", "退款原路返回，支付宝1-3个工作日，银行卡3-7个工作日到账。"),
    ("改地址", "下单后还能改收货地址吗", "订单发货前可在订单详情页修改收货地址。"),
]
DOC_BLOCKS = [{"type": "heading1", "text": "售后手册"}, {"type": "text", "text": "保修期为一年，凭发票保修。"}]


@dataclass
class Managed:
    """A process under the orchestrator's restart policy: started again whenever it exits."""

    name: str
    argv: list[str]
    env: dict[str, str]
    health_url: str
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    log_path: Path | None = None

    def start(self) -> None:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def children(self) -> list[int]:
        if self.proc is None:
            return []
        found: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            found += [int(x) for x in (task / "children").read_text().split()]
        return found

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Orchestrator:
    """Restarts what exits: larkdesk processes at once, redis-server after `redis_delay_s` (an operator's
    restart policy, not a manual step)."""

    processes: list[Managed]
    redis: RestartableRedis
    redis_delay_s: float = 2.0
    stopping: bool = False
    redis_down_since: float | None = None
    redis_restarts: int = 0
    task: asyncio.Task | None = field(default=None, repr=False)

    async def run(self) -> None:
        while not self.stopping:
            for p in self.processes:
                if p.proc is not None and p.proc.poll() is not None:
                    p.restarts += 1
                    p.start()
            proc = self.redis.proc
            if proc is not None and proc.poll() is not None:
                self.redis_down_since = self.redis_down_since or time.monotonic()
                if time.monotonic() - self.redis_down_since >= self.redis_delay_s:
                    await asyncio.to_thread(self.redis.start)
                    self.redis_down_since, self.redis_restarts = None, self.redis_restarts + 1
            await asyncio.sleep(0.2)


class LLMStub:
    """The LLM's behaviour of the moment: healthy, hanging, rate limited or talking garbage."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.server = OpenAIChatServer(api_key="chaos-key")
        self.server.responder = self.reply

    def reply(self, request) -> ChatReply | str:
        if self.mode == "hang":
            return ChatReply(text="…", delay_s=120)
        if self.mode == "429":
            return rate_limited(5)
        if self.mode == "garbage":
            return ChatReply(text="\u0000{{{<<<%%% 乱码 ]]] null undefined NaN")
        if "You classify" in request.system:
            return '{"intent": "faq", "negative": false}'
        passage = request.text.split("</document>")[0].rsplit(">", 1)[-1].strip()
        return f"{passage[:200]} [1]"  # a grounded answer citing the first passage


class FrontProxy:
    """Round robin over the fronts; a front that refuses the connection is skipped (the load balancer's job)."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self._next = 0
        self._runner = None
        self.port = free_port()

    async def start(self) -> None:
        import aiohttp
        from aiohttp import web

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            for i in range(len(self.upstreams)):
                upstream = self.upstreams[(self._next + i) % len(self.upstreams)]
                try:
                    async with self._session.post(upstream + request.path, data=body, headers=headers) as resp:
                        self._next += 1
                        return web.Response(status=resp.status, body=await resp.read(),
                                            content_type=resp.content_type)
                except aiohttp.ClientConnectionError:
                    continue
            return web.Response(status=502, text="no front answered")

        app = web.Application()
        app.router.add_post("/{tail:.*}", forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()


async def ready(processes: list[Managed], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            statuses = []
            for p in processes:
                try:
                    statuses.append((await http.get(p.health_url)).status_code)
                except httpx.HTTPError:
                    statuses.append(0)
            if all(s == 200 for s in statuses):
                return True
            await asyncio.sleep(0.5)
    return False


async def drive(emulator: Emulator, case: str, rate: float, seconds: float,
                fault: Callable[[], Awaitable[None]], fault_at_s: float) -> list[str]:
    sent: list[str] = []
    total = int(rate * seconds)
    started = time.perf_counter()
    fault_task: asyncio.Task | None = None
    for i in range(total):
        if fault_task is None and time.perf_counter() - started >= fault_at_s:
            fault_task = asyncio.create_task(fault())
        question = FAQ[i % len(FAQ)][1]
        result = await emulator.send_user_message(f"ou_{case}_{i}", question)
        sent.append(result["message_id"])
        delay = started + (i + 1) / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    if fault_task is not None:
        await fault_task
    return sent


def replies_of(emulator: Emulator, message_ids: list[str]) -> dict[str, list]:
    wanted = set(message_ids)
    out: dict[str, list] = {m: [] for m in message_ids}
    for msg in list(emulator.state.messages.values()):
        if msg.sender_type == "app" and msg.parent_id in wanted:
            out[msg.parent_id].append(msg)
    return out


async def run_case(ctx: dict, case: str, fault: Callable[[], Awaitable[None]],
                   after: Callable[[], Awaitable[dict]] | None = None) -> dict:
    args, emulator = ctx["args"], ctx["emulator"]
    store: aioredis.Redis = ctx["redis_client"]
    dead_before = await _safe(store.xlen("larkdesk:events:dead"), 0)
    sent = await drive(emulator, case, args.rate, args.seconds, fault, args.seconds / 3)
    deadline = time.monotonic() + args.drain_s
    while time.monotonic() < deadline:
        if all(replies_of(emulator, sent).values()):
            break
        await asyncio.sleep(0.5)
    replies = replies_of(emulator, sent)
    by_id = {m.message_id: m for m in emulator.state.messages.values()}
    delays = [(min(r.create_time for r in rs) - by_id[mid].create_time) / 1000 for mid, rs in replies.items() if rs]
    recovered = await ready(ctx["processes"], 60)
    dead = await _safe(store.xlen("larkdesk:events:dead"), dead_before) - dead_before
    result = {
        "messages": len(sent),
        "lost": sum(1 for rs in replies.values() if not rs),
        "duplicated": sum(max(0, len(rs) - 1) for rs in replies.values()),
        "max_reply_delay_s": round(max(delays), 2) if delays else None,
        "reply_delay_p50_s": round(percentile(delays, 50), 2) if delays else None,
        "dead_letters": dead,
    }
    if after is not None:
        result.update(await after())
    result["recovered_without_manual_action"] = bool(recovered and result["lost"] == 0
                                                     and result.get("extra_ok", True))
    result.pop("extra_ok", None)
    print(json.dumps({"case": case, **result}, ensure_ascii=False), file=sys.stderr)
    return result


async def _safe(coro, default):
    try:
        return int(await coro)
    except Exception:
        return default


def larkdesk_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    return {**base, **extra}


async def main_async(args: argparse.Namespace) -> dict:
    configure_logging("WARNING", "json")
    main_task = asyncio.current_task()
    for sig in (signal.SIGTERM, signal.SIGINT):  # stopped early: still stop every process it started
        asyncio.get_running_loop().add_signal_handler(sig, main_task.cancel)
    workdir = Path(tempfile.mkdtemp(prefix="larkdesk-chaos-"))
    redis = RestartableRedis()
    redis.start()
    milvus = MilvusLiteServer()
    milvus.start()
    llm = LLMStub()
    await llm.server.start()
    emulator = Emulator(EmulatorConfig(delivery_concurrency=32, chat_qps=50, retry_time_scale=args.retry_scale))
    url = await emulator.start()
    doc = emulator.create_doc("售后手册", DOC_BLOCKS)

    # The knowledge its customers ask about, written through the same store the workers read.
    from bot.services import build_knowledge

    faq = workdir / "faq.jsonl"
    faq.write_text("\n".join(json.dumps({"id": k, "question": q, "answer": a}, ensure_ascii=False)
                             for k, q, a in FAQ), "utf-8")
    knowledge = await build_knowledge(Settings(redis_url=redis.url, milvus_uri=milvus.uri,
                                               data_dir=workdir / "ingest"))
    await knowledge.kb.ingest_file(faq)
    await knowledge.close()

    base = {**os.environ, "FEISHU_APP_ID": EmulatorDefaults.app_id, "FEISHU_APP_SECRET": EmulatorDefaults.app_secret,
            "FEISHU_VERIFICATION_TOKEN": EmulatorDefaults.verification_token,
            "FEISHU_ENCRYPT_KEY": EmulatorDefaults.encrypt_key, "FEISHU_BOT_OPEN_ID": EmulatorDefaults.bot_open_id,
            "FEISHU_DOMAIN": url, "REDIS_URL": redis.url, "MILVUS_URI": milvus.uri,
            "DATA_DIR": str(workdir / "data"), "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
            "OMP_NUM_THREADS": "1", "SAMPLE_KB": "false", "FEISHU_SYNC_DOCS": doc["document_id"],
            "LLM_BASE_URL": llm.server.base_url, "LLM_API_KEY": "chaos-key", "LLM_MODEL": "test-model",
            "LLM_GROUNDEDNESS_CHECK": "false", "FEISHU_STREAM_REPLIES": "false", "CACHE_ENABLED": "false",
            "QUEUE_RECLAIM_IDLE_MS": "3000", "DESK_WORKING_HOURS": "",
            "WORKER_CONCURRENCY": "64", "SYNC_DEBOUNCE_S": "0.2"}  # LLM waits are I/O: many turns at once
    ports = {name: free_port() for name in ("front", "front2", "serve", "worker")}
    python = [sys.executable, "-m", "bot"]
    processes = [
        Managed("front", [*python, "serve"], larkdesk_env(base, PORT=str(ports["front"]), RUN_WORKERS="false"),
                f"http://127.0.0.1:{ports['front']}/readyz", log_path=workdir / "front.log"),
        Managed("front2", [*python, "serve"], larkdesk_env(base, PORT=str(ports["front2"]), RUN_WORKERS="false"),
                f"http://127.0.0.1:{ports['front2']}/readyz", log_path=workdir / "front2.log"),
        Managed("serve", [*python, "serve"], larkdesk_env(base, PORT=str(ports["serve"]), WORKER_PROCESSES="1"),
                f"http://127.0.0.1:{ports['serve']}/readyz", log_path=workdir / "serve.log"),
        Managed("worker", [*python, "worker"], larkdesk_env(base, WORKER_HEALTH_PORT=str(ports["worker"])),
                f"http://127.0.0.1:{ports['worker']}/readyz", log_path=workdir / "worker.log"),
    ]
    for p in processes:
        p.start()
    orchestrator = Orchestrator(processes, redis)
    orchestrator.task = asyncio.create_task(orchestrator.run())
    store = aioredis.Redis.from_url(redis.url, decode_responses=True)
    proxy = FrontProxy([f"http://127.0.0.1:{ports['front']}", f"http://127.0.0.1:{ports['front2']}"])
    await proxy.start()
    emulator.set_delivery(event_callback_url=f"http://127.0.0.1:{proxy.port}/feishu/events", duplicates=2)
    ctx = {"args": args, "emulator": emulator, "processes": processes, "redis_client": store}
    front, _front2, serve, _worker = processes
    cases: dict[str, dict] = {}
    try:
        if not await ready(processes, 180):
            raise RuntimeError(f"larkdesk did not become ready; logs in {workdir}")
        await run_case(ctx, "warmup", _noop)

        async def kill_worker_process() -> None:
            for pid in serve.children():
                os.kill(pid, signal.SIGKILL)

        async def kill_front() -> None:
            front.kill9()

        async def kill_serve() -> None:
            serve.kill9()

        async def restart_redis() -> None:
            redis.kill()

        async def milvus_outage() -> None:
            milvus.halt()
            await emulator.edit_doc(doc["document_id"], [{"op": "update_text", "block_id": doc["block_ids"][1],
                                                          "text": "保修期为两年，凭发票或电子订单保修。"}])
            await asyncio.sleep(args.milvus_outage_s)
            await asyncio.to_thread(milvus.start)

        async def doc_synced() -> dict:
            revision = emulator.state.documents[doc["document_id"]].revision_id
            for _ in range(120):
                raw = await _get(store, "larkdesk:sync:subscriptions", doc["document_id"])
                if raw and json.loads(raw).get("revision_id") == revision:
                    return {"doc_edit_synced_after_outage": True}
                await asyncio.sleep(0.5)
            return {"doc_edit_synced_after_outage": False, "extra_ok": False}

        def llm_mode(mode: str) -> Callable[[], Awaitable[None]]:
            async def set_mode() -> None:
                llm.mode = mode
            return set_mode

        async def llm_ok() -> dict:
            llm.mode = "ok"
            return {}

        async def feishu_bursts() -> None:
            emulator.add_fault("/open-apis/im/v1/messages", "rate_limit", count=int(args.rate * 2), reset_s=1)
            await asyncio.sleep(args.seconds / 6)
            emulator.add_fault("/open-apis/im/v1/messages", "server_error", count=int(args.rate * 2))

        plan: list[tuple[str, Callable[[], Awaitable[None]], Callable[[], Awaitable[dict]] | None]] = [
            ("kill_worker_process", kill_worker_process, None),
            ("kill_front", kill_front, None),
            ("kill_serve", kill_serve, None),
            ("redis_restart", restart_redis, None),
            ("milvus_outage", milvus_outage, doc_synced),
            ("llm_hang", llm_mode("hang"), llm_ok),
            ("llm_429", llm_mode("429"), llm_ok),
            ("llm_garbage", llm_mode("garbage"), llm_ok),
            ("feishu_429_5xx", feishu_bursts, None),
        ]
        selected = [c for c in plan if not args.cases or c[0] in args.cases]
        for name, fault, after in selected:
            cases[name] = await run_case(ctx, name, fault, after)
    finally:
        orchestrator.stopping = True
        if orchestrator.task is not None:
            await orchestrator.task
        for p in processes:
            p.stop()
        await proxy.stop()
        await store.aclose()
        await emulator.stop()
        await llm.server.stop()
        milvus.stop()
        redis.stop()
    return {
        "lost": sum(c["lost"] for c in cases.values()),
        "duplicated": sum(c["duplicated"] for c in cases.values()),
        "max_reply_delay_s": max((c["max_reply_delay_s"] or 0) for c in cases.values()) if cases else None,
        "recovered_without_manual_action": all(c["recovered_without_manual_action"] for c in cases.values()),
        "dead_letters": sum(c["dead_letters"] for c in cases.values()),
        "cases": cases,
        "msg_per_s": args.rate,
        "seconds_per_case": args.seconds,
        "deliveries_per_event": 2,
        "milvus_outage_s": args.milvus_outage_s,
        "feishu_retry_time_scale": args.retry_scale,
        "process_restarts": {p.name: p.restarts for p in processes},
        "redis_restarts": orchestrator.redis_restarts,
        "cpu_count": os.cpu_count(),
        "quick": args.quick,
    }


async def _noop() -> None:
    return None


async def _get(store: aioredis.Redis, key: str, field_name: str) -> str | None:
    try:
        return await store.hget(key, field_name)
    except Exception:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--drain-s", type=float, default=120.0, help="how long to wait for late replies per case")
    parser.add_argument("--milvus-outage-s", type=float, default=20.0)
    parser.add_argument("--retry-scale", type=float, default=1.0,
                        help="Feishu's retry schedule (15 s, 5 min, ...) times this")
    parser.add_argument("--cases", nargs="*", help="run only these cases")
    parser.add_argument("--quick", action="store_true", help="seconds per case (what CI runs)")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.milvus_outage_s, args.drain_s = 8.0, 6.0, 5.0, 60.0
        args.retry_scale = 0.2  # Feishu's first retry after 3 s instead of 15 s
    result = asyncio.run(main_async(args))
    print(json.dumps(result, ensure_ascii=False))
    ok = result["lost"] == 0 and result["duplicated"] == 0 and result["recovered_without_manual_action"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
