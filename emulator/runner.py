"""Start the emulator in-process (Emulator) or blocking (run_emulator, for `larkdesk emulator`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import replace

import structlog
from aiohttp import web

from emulator.app import build_app
from emulator.config import EmulatorConfig
from emulator.service import EmulatorService

log = structlog.get_logger("emulator")


class Emulator(EmulatorService):
    """The emulated Feishu: an aiohttp server plus the in-process control methods of EmulatorService."""

    def __init__(self, config: EmulatorConfig | None = None, **overrides) -> None:
        config = config or EmulatorConfig()
        super().__init__(replace(config, **overrides) if overrides else config)
        self.app = build_app(self)
        self._runner: web.AppRunner | None = None
        self.host: str | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("emulator not started")
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0: any free port); returns the base URL (use it as the SDK domain)."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = int(self._runner.addresses[0][1]) if self._runner.addresses else port
        log.info(
            "emulator.started",
            base_url=self.base_url,
            app_id=self.config.app_id,
            event_callback_url=self.config.event_callback_url,
            encrypted=bool(self.config.encrypt_key),
        )
        return self.base_url

    async def stop(self) -> None:
        await self.deliverer.close()
        await self.longconn.close()
        await self.live.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("emulator.stopped")

    async def __aenter__(self) -> Emulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()


async def serve(config: EmulatorConfig, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    emulator = Emulator(config)
    await emulator.start(host, port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def run_emulator(
    host: str = "127.0.0.1",
    port: int = 9000,
    event_callback_url: str | None = None,
    card_callback_url: str | None = None,
    config: EmulatorConfig | None = None,
    **overrides,
) -> None:
    """Run the emulator until SIGINT/SIGTERM (blocks)."""
    config = config or EmulatorConfig()
    config = replace(
        config,
        event_callback_url=event_callback_url or config.event_callback_url,
        card_callback_url=card_callback_url or config.card_callback_url,
        **overrides,
    )
    asyncio.run(serve(config, host, port))
