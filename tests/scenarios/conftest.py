"""Whole conversations against the sample shop's knowledge (config/sample_kb) plus two extra sources: a pet-food
returns rule and a delivery-area doc. The knowledge is ingested once per test session and copied for each test
(every test learns and writes on its own copy)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import fakeredis
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from bot.startup import load_sample_kb
from tests.integration.conftest import AGENT_CHAT, AGENTS, bot_settings
from tests.integration.conftest import emulator as emulator  # the in-process Feishu emulator fixture

# Sources an operator would add next to the FAQ: a rule that answers more precisely than a generic FAQ entry,
# and a delivery-area page.
PET_FOOD_POLICY = """# 宠物食品退换货规则

## 开封后的宠物食品

猫粮、狗粮、宠物零食等宠物食品一经开封（包括拆开内袋、撕开密封条），因涉及食品安全，不支持退货和换货；
未开封且在保质期内的，签收后 7 天内可申请无理由退货。
"""
DELIVERY_AREAS = """# 配送范围说明

## 可配送地区

云雀商城目前只配送中国大陆地址。香港、澳门、台湾地区（港澳台）及海外地址暂不提供配送服务，下单时无法选择这些地区的收货地址。
"""


@dataclass
class Shop:
    services: Services
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture(scope="session")
def shop_knowledge(tmp_path_factory) -> Path:
    """A data dir holding the sample shop's knowledge, built once."""
    import asyncio

    data = tmp_path_factory.mktemp("shop-knowledge")

    async def build() -> None:
        services = Services.build(bot_settings("http://127.0.0.1:9", data), redis=fakeredis.FakeAsyncRedis())
        try:
            await services.knowledge.store.ensure()
            await load_sample_kb(services)
            for name, text in (("pet-food-policy.md", PET_FOOD_POLICY), ("delivery-areas.md", DELIVERY_AREAS)):
                path = data / name
                path.write_text(text, encoding="utf-8")
                await services.knowledge.kb.ingest_file(path, knowledge_type="policy")
        finally:
            await services.knowledge.close()

    asyncio.run(build())
    return data


@pytest.fixture
async def redis_client(real_redis_url):
    """Conversations run on a real redis-server, as in production (the queue suites cover fakeredis too)."""
    client = aioredis.Redis.from_url(real_redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def shop(emulator, tmp_path, redis_client, shop_knowledge) -> Shop:
    """The whole product (Feishu through the emulator, and the REST API) on a copy of the shop's knowledge."""
    data = tmp_path / "data"
    shutil.copytree(shop_knowledge, data)
    emulator.create_group(AGENT_CHAT, "客服组", members=list(AGENTS), names=AGENTS)
    settings = bot_settings(emulator.base_url, data, feishu_agent_chat_id=AGENT_CHAT, desk_working_hours="",
                            feishu_admin_open_ids="ou_admin")
    services = Services.build(settings, redis=redis_client)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    emulator.set_delivery(event_callback_url=str(server.make_url("/feishu/events")),
                          card_callback_url=str(server.make_url("/feishu/cards")))
    yield Shop(services, server)
    await server.close()
