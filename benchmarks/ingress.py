"""Ingress benchmark: ack latency under load, event→reply latency, duplicates and losses.

Runs the bot as a separate `larkdesk serve` process against a real redis-server and a Milvus (Lite) server
process — the production topology of docker-compose.yml — and drives it with the bundled Feishu emulator
(in this process), whose deliveries are signed and encrypted like Feishu's. Every message is answered through
the real knowledge path (query embedding + retrieval) over a small FAQ loaded first: every customer asks one
of its questions, so the bot answers rather than hands over. `--milvus embedded` keeps Milvus Lite inside the
bot process instead (the `make run` default).

Phase 1: --rate events/s for --seconds: one in ten is a customer's p2p question (answered: 50/s is
          Feishu's per-app send limit), the rest group chatter that does not @-mention the bot (queued,
          read by a worker, ignored); ack latency = the delivery round trip the emulator measured.
Phase 2: --reply-rate messages/s, every event delivered 3 times; event→reply latency = reply create time
          minus user message create time; duplicate replies and lost messages are counted.
A message is lost only when nothing came of it: no reply, and no relay into the agent group (a customer the
desk handed over gets the bot's silence and an agent's attention, which is right). Prints one JSON object on
its last line; `--quick` (seconds, what CI runs) exits 1 when anything was lost or duplicated or not acked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time

import redis.asyncio as aioredis
from _harness import BotProcess, RedisServerProcess, percentile

from config.settings import Settings
from emulator import Emulator, EmulatorConfig
from observability.logging import configure_logging
from tests.rag.store_conftest import MilvusLiteServer

AGENT_CHAT = "oc_agents"
FAQ = [
    ("return", "怎么申请退货", "在订单详情页点击“申请退货”，7天内可无理由退货。"),
    ("invoice", "发票抬头写错了怎么办", "在订单详情页申请换开发票，填写正确抬头后重新开具。"),
    ("pickup", "冰箱退货能上门取件吗", "大件家电可预约免费上门取件，预约后48小时内上门。"),
    ("freight", "退货运费谁承担", "质量问题退货运费由商家承担，无理由退货由买家承担。"),
    ("refund", "退款多久到账", "退款原路返回，支付宝1-3个工作日，银行卡3-7个工作日到账。"),
]


async def load_faq(settings: Settings, workdir: str) -> None:
    """The knowledge the customers ask about, through the store the bot will open."""
    from pathlib import Path

    from bot.services import build_knowledge

    path = Path(workdir) / "faq.jsonl"
    path.write_text("\n".join(json.dumps({"id": k, "question": q, "answer": a}, ensure_ascii=False)
                              for k, q, a in FAQ), "utf-8")
    knowledge = await build_knowledge(settings)
    await knowledge.kb.ingest_file(path)
    await knowledge.close()


async def drive(emulator: Emulator, rate: float, seconds: float, users: int, tag: str,
                answered_every: int = 1) -> list[str]:
    """Send `rate` user messages per second for `seconds`; returns the ids of those the bot must answer.

    Every `answered_every`-th message is a p2p question; the others are group chatter without a mention.
    """
    answered: list[str] = []
    group = emulator.create_group(name=f"{tag} chatter")["chat_id"]
    total = int(rate * seconds)
    started = time.perf_counter()
    for i in range(total):
        if i % answered_every == 0:
            result = await emulator.send_user_message(f"ou_{tag}_{i % users}", FAQ[i % len(FAQ)][1])
            answered.append(result["message_id"])
        else:
            await emulator.send_user_message(f"ou_{tag}_{i % users}", f"闲聊 {i}", chat_type="group",
                                             chat_id=group)
        delay = started + (i + 1) / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    return answered


async def wait_replies(emulator: Emulator, message_ids: list[str], timeout_s: float) -> dict[str, list]:
    deadline = time.monotonic() + timeout_s
    wanted = set(message_ids)
    while True:
        replies: dict[str, list] = {m: [] for m in message_ids}
        for msg in emulator.state.messages.values():
            if msg.sender_type == "app" and msg.parent_id in wanted:
                replies[msg.parent_id].append(msg)
        if all(replies.values()) or time.monotonic() > deadline:
            return replies
        await asyncio.sleep(0.25)


async def backlog(store: aioredis.Redis) -> int:
    """Events not yet worked off: in the stream, or parked behind their chat or for a retry."""
    waiting = await store.smembers("larkdesk:events:waiting")
    parked = [await store.llen(f"larkdesk:events:parked:{key}") for key in waiting]
    return int(await store.xlen("larkdesk:events")) + sum(parked)


async def drained(store: aioredis.Redis, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not await backlog(store):
            return
        await asyncio.sleep(0.25)


def relayed(emulator: Emulator, unanswered: list[str]) -> int:
    """How many unanswered messages were relayed to the agent group (by text: a relay quotes the customer)."""
    quoted: dict[str, int] = {}
    for msg in emulator.state.messages.values():
        if msg.sender_type == "app" and msg.chat_id == AGENT_CHAT:
            text = json.loads(msg.content).get("text", "") if msg.msg_type == "text" else ""
            if text.startswith("客户："):
                quoted[text.removeprefix("客户：")] = quoted.get(text.removeprefix("客户："), 0) + 1
    covered = 0
    for mid in unanswered:
        text = json.loads(emulator.state.messages[mid].content).get("text", "")
        if quoted.get(text, 0) > 0:
            quoted[text] -= 1
            covered += 1
    return covered


async def main_async(args: argparse.Namespace) -> dict:
    configure_logging("WARNING", "json")
    redis = RedisServerProcess()
    redis.start()
    milvus = MilvusLiteServer() if args.milvus == "server" else None
    if milvus is not None:
        milvus.start()
    workdir = tempfile.mkdtemp(prefix="larkdesk-bench-")
    if args.responder == "knowledge":
        await load_faq(Settings(redis_url=redis.url, milvus_uri=milvus.uri if milvus else "", data_dir=workdir),
                       workdir)
    emulator = Emulator(EmulatorConfig(delivery_concurrency=args.concurrency, chat_qps=50))
    url = await emulator.start()
    emulator.create_group(AGENT_CHAT, "客服组", members=["ou_agent_1"], names={"ou_agent_1": "Agent"})
    bot = BotProcess(url, redis.url, workdir,
                     WORKER_CONCURRENCY=str(args.workers), MILVUS_URI=milvus.uri if milvus else "",
                     BOT_RESPONDER=args.responder, WORKER_PROCESSES=str(args.worker_processes),
                     FEISHU_AGENT_CHAT_ID=AGENT_CHAT, DESK_WORKING_HOURS="")
    bot.start()
    emulator.set_delivery(event_callback_url=bot.events_url)
    try:
        # warm-up: token, connections, JIT-free but caches filled
        await drive(emulator, 10 if args.quick else 50, 1, 50, "warm")
        await emulator.wait_idle(30)
        await asyncio.sleep(1)

        first = len(emulator.state.deliveries)
        ack_ids = await drive(emulator, args.rate, args.seconds, args.users, "load", answered_every=10)
        await emulator.wait_idle(60)
        load = [d for d in emulator.state.deliveries[first:] if d.kind == "event"]
        ack_ms = [d.latency_ms for d in load if d.status == 200]
        achieved = len(load) / args.seconds
        # Late is not lost: wait until every queued event (answered, ignored, parked for a retry) is worked off.
        store = aioredis.Redis.from_url(redis.url, decode_responses=True)
        await drained(store, args.drain_s)
        load_replies = await wait_replies(emulator, ack_ids, 10)
        unprocessed = await backlog(store) + await store.xlen("larkdesk:events:dead")
        emulator.set_delivery(duplicates=3)
        first = len(emulator.state.deliveries)
        reply_ids = await drive(emulator, args.reply_rate, args.reply_seconds, args.users, "reply")
        await emulator.wait_idle(60)
        dup_deliveries = [d for d in emulator.state.deliveries[first:] if d.kind == "event"]
        await drained(store, args.drain_s)
        replies = await wait_replies(emulator, reply_ids, 10)
        unprocessed += await backlog(store)
        await store.aclose()
        by_id = {m.message_id: m for m in emulator.state.messages.values()}
        latency = [min(r.create_time for r in rs) - by_id[mid].create_time for mid, rs in replies.items() if rs]
        all_replies = {**load_replies, **replies}
        unanswered = [mid for mid, rs in all_replies.items() if not rs]
        relays = relayed(emulator, unanswered)
        return {
            "events_per_s_target": args.rate,
            "events_per_s_delivered": round(achieved, 1),
            "ack_p50_ms": round(percentile(ack_ms, 50), 2),
            "ack_p99_ms": round(percentile(ack_ms, 99), 2),
            "ack_max_ms": round(max(ack_ms), 2) if ack_ms else None,
            "ack_non_200": sum(1 for d in load if d.status != 200),
            "reply_msgs_per_s": args.reply_rate,
            "deliveries_per_event": 3,
            "deliveries_in_reply_phase": len(dup_deliveries),
            "event_to_reply_p50_ms": round(percentile(latency, 50), 1),
            "event_to_reply_p99_ms": round(percentile(latency, 99), 1),
            "messages": len(all_replies),
            "duplicates": sum(max(0, len(r) - 1) for r in all_replies.values()),
            "lost": len(unanswered) - relays + unprocessed,
            "relayed_to_agents": relays,
            "redis": "redis-server",
            "milvus": args.milvus,
            "responder": args.responder,
            "worker_concurrency": args.workers,
            "worker_processes": args.worker_processes,
            "cpu_count": os.cpu_count(),
        }
    finally:
        bot.stop()
        await emulator.stop()
        redis.stop()
        if milvus is not None:
            milvus.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--reply-rate", type=float, default=50)
    parser.add_argument("--reply-seconds", type=float, default=20)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64, help="emulator deliveries in flight")
    parser.add_argument("--workers", type=int, default=16, help="WORKER_CONCURRENCY of the bot")
    parser.add_argument("--responder", choices=["knowledge", "echo"], default="knowledge",
                        help="echo isolates the ingress and queue from the cost of answering")
    parser.add_argument("--milvus", choices=["server", "embedded"], default="server")
    parser.add_argument("--worker-processes", type=int, default=0,
                        help="WORKER_PROCESSES: answer in separate, lower-priority processes")
    parser.add_argument("--drain-s", type=float, default=600, help="how long to wait for the backlog to clear")
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase (what CI runs)")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.seconds, args.reply_rate, args.reply_seconds = 100, 3, 10, 3
    result = asyncio.run(main_async(args))
    result["quick"] = args.quick
    print(json.dumps(result))
    broken = result["lost"] or result["duplicates"] or result["ack_non_200"]
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
