"""A running bot wired to an in-process Feishu emulator, on either Redis backend."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestServer

from bot.app import WORKERS, create_app
from bot.handlers.messages import MessageHandler, echo_responder
from bot.services import Services
from config.settings import EmulatorDefaults, Settings
from emulator import Emulator, EmulatorConfig
from tests.integration.test_knowledge import FAQ


def echo_services(settings: Settings, redis) -> Services:
    """Services whose message handler echoes: ingress and delivery tests need no knowledge base."""
    services = Services.build(settings, redis=redis)
    services.registry.add_event("im.message.receive_v1", MessageHandler(
        services.feishu, echo_responder("zh-CN"), bot_open_id=settings.feishu_bot_open_id, language="zh-CN"))
    return services


def bot_settings(emulator_url: str, tmp_path, **overrides) -> Settings:
    values = dict(
        feishu_app_id=EmulatorDefaults.app_id,
        feishu_app_secret=EmulatorDefaults.app_secret,
        feishu_verification_token=EmulatorDefaults.verification_token,
        feishu_encrypt_key=EmulatorDefaults.encrypt_key,
        feishu_domain=emulator_url,
        feishu_bot_open_id=EmulatorDefaults.bot_open_id,
        data_dir=tmp_path,
        queue_reclaim_idle_ms=300,
        queue_retry_backoff_ms=20,
        sample_kb=False,
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Stack:
    emulator: Emulator
    services: Services
    server: TestServer
    settings: Settings

    @property
    def workers(self):
        return self.server.app[WORKERS]

    def replies(self, chat_id: str | None = None) -> list[dict]:
        return self.emulator.bot_messages(chat_id)


@pytest.fixture
async def emulator():
    emu = Emulator(EmulatorConfig(retry_time_scale=0.001))
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def stack(emulator, redis_client, tmp_path):
    settings = bot_settings(emulator.base_url, tmp_path)
    services = echo_services(settings, redis_client)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    emulator.set_delivery(event_callback_url=str(server.make_url("/feishu/events")))
    yield Stack(emulator, services, server, settings)
    await server.close()


# The desk: an agent group with two agents, an admin, agents always on duty, a small FAQ knowledge base.
AGENTS = {"ou_agent_ann": "Ann", "ou_agent_bob": "Bob"}
AGENT_CHAT = "oc_agents"
ADMIN = "ou_admin"


async def start_desk_bot(emulator, tmp_path, redis_client) -> tuple[Services, TestServer]:
    emulator.create_group(AGENT_CHAT, "客服组", members=list(AGENTS), names=AGENTS)
    settings = bot_settings(emulator.base_url, tmp_path, feishu_agent_chat_id=AGENT_CHAT,
                            feishu_admin_open_ids=ADMIN, desk_working_hours="", desk_sla_minutes=0.05)
    services = Services.build(settings, redis=redis_client)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    emulator.set_delivery(event_callback_url=str(server.make_url("/feishu/events")),
                          card_callback_url=str(server.make_url("/feishu/cards")))
    faq = tmp_path / "faq.jsonl"
    faq.write_text(FAQ, encoding="utf-8")
    await services.knowledge.kb.ingest_file(faq)
    return services, server


@pytest.fixture
async def desk_bot(emulator, tmp_path, redis_client):
    services, server = await start_desk_bot(emulator, tmp_path, redis_client)
    yield services
    await server.close()


@pytest.fixture
async def desk_server(emulator, tmp_path, redis_client):
    """The desk bot and the base URL of its HTTP server (Feishu webhook and REST API)."""
    services, server = await start_desk_bot(emulator, tmp_path, redis_client)
    yield services, str(server.make_url("")).rstrip("/")
    await server.close()
