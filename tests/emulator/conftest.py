"""Shared fixtures: an emulator, the real lark-oapi SDK pointed at it, and a bot-side receiver."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import lark_oapi as lark
import pytest
from aiohttp import web
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

from emulator import Emulator, EmulatorConfig


class Receiver:
    """A tiny bot endpoint: lark.EventDispatcherHandler verifies, decrypts and dispatches what arrives."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.events: list[dict[str, Any]] = []  # {"type", "event_id", "data", "time"}
        self.statuses: list[int] = []
        self.fail_next = 0  # answer 500 to this many requests before handling
        self.delay_s = 0.0
        self.card_response: dict | Callable[[Any], dict] | None = None
        self.arrived = asyncio.Event()
        self.handler = (
            lark.EventDispatcherHandler.builder(config.encrypt_key, config.verification_token)
            .register_p2_im_message_receive_v1(lambda d: self._record("im.message.receive_v1", d))
            .register_p2_drive_file_edit_v1(lambda d: self._record("drive.file.edit_v1", d))
            .register_p2_drive_file_title_updated_v1(lambda d: self._record("drive.file.title_updated_v1", d))
            .register_p2_drive_file_trashed_v1(lambda d: self._record("drive.file.trashed_v1", d))
            .register_p2_drive_file_deleted_v1(lambda d: self._record("drive.file.deleted_v1", d))
            .register_p2_application_bot_menu_v6(lambda d: self._record("application.bot.menu_v6", d))
            .register_p2_im_chat_access_event_bot_p2p_chat_entered_v1(
                lambda d: self._record("im.chat.access_event.bot_p2p_chat_entered_v1", d)
            )
            .register_p2_customized_event("larkdesk.test_v1", lambda d: self._record("larkdesk.test_v1", d))
            .register_p2_card_action_trigger(self._on_card)
            .build()
        )
        self.url = ""
        self._runner: web.AppRunner | None = None

    def _record(self, event_type: str, data: Any) -> None:
        self.events.append(
            {"type": event_type, "event_id": data.header.event_id, "data": data, "time": time.monotonic()}
        )
        self.arrived.set()

    def _on_card(self, data: Any) -> P2CardActionTriggerResponse:
        self._record("card.action.trigger", data)
        resp = self.card_response(data) if callable(self.card_response) else self.card_response
        return P2CardActionTriggerResponse(resp or {})

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_next > 0:
            self.fail_next -= 1
            self.statuses.append(500)
            return web.json_response({"msg": "injected failure"}, status=500)
        raw = lark.RawRequest()
        raw.uri = request.path
        raw.body = body
        raw.headers = request.headers  # case-insensitive; the SDK needs canonical names to resolve
        resp = self.handler.do(raw)
        self.statuses.append(resp.status_code)
        return web.Response(status=resp.status_code, body=resp.content, content_type="application/json")

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhook/event", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/webhook/event"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def of_type(self, event_type: str) -> list[dict]:
        return [e for e in self.events if e["type"] == event_type]

    async def wait_for(self, n: int, event_type: str | None = None, timeout_s: float = 5.0) -> list[dict]:
        async with asyncio.timeout(timeout_s):
            while True:
                got = self.events if event_type is None else self.of_type(event_type)
                if len(got) >= n:
                    return got
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(retry_time_scale=0.001, seed=7)


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig):
    emu = Emulator(emulator_config)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def receiver(emulator: Emulator):
    rec = Receiver(emulator.config)
    url = await rec.start()
    emulator.set_delivery(event_callback_url=url)
    yield rec
    await rec.stop()


@pytest.fixture
def sdk(emulator: Emulator) -> lark.Client:
    """The real SDK. Call it through `call()`: it fetches tokens with blocking `requests`."""
    return (
        lark.Client.builder()
        .app_id(emulator.config.app_id)
        .app_secret(emulator.config.app_secret)
        .domain(emulator.base_url)
        .log_level(lark.LogLevel.ERROR)
        .build()
    )


async def call(fn: Callable, *args: Any) -> Any:
    """Run a blocking SDK call off the event loop (the emulator serves on this loop)."""
    return await asyncio.to_thread(fn, *args)


def text_content(text: str) -> str:
    return json.dumps({"text": text})
