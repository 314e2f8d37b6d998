"""Small defects: `larkdesk send` honours EMULATOR_PORT; a doc gone while the bot was down (a previous run's demo
doc) leaves the knowledge at start-up instead of living on as a conflicting copy; the process is not ready before
the sample shop is loaded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import fakeredis
import pytest

from bot.services import Services
from bot.startup import warm_knowledge
from config.redis import redis_lock
from emulator import Emulator, EmulatorConfig
from sync.live import source_id_for
from tests.integration.conftest import bot_settings
from tests.redis_server import free_port
from tests.rest_client import JsonClient, start_rest_server

pytestmark = pytest.mark.integration


async def test_send_talks_to_the_emulator_on_emulator_port(tmp_path):
    port = free_port()
    emulator = Emulator(EmulatorConfig())
    await emulator.start("127.0.0.1", port)
    try:
        env = {**os.environ, "EMULATOR_PORT": str(port), "DATA_DIR": str(tmp_path), "LOG_FORMAT": "json"}
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bot", "send", "端口在哪", "--timeout", "0.5"],
            capture_output=True, text=True, env=env, timeout=60)
        said = [m for m in emulator.state.messages.values() if m.sender_type == "user"]
        assert len(said) == 1 and "端口在哪" in said[0].content
        assert done.returncode == 1 and "no reply within" in done.stderr  # nobody answers: no bot here
    finally:
        await emulator.stop()


async def test_a_doc_that_no_longer_exists_leaves_the_knowledge_at_start(tmp_path, redis_client):
    emulator = Emulator(EmulatorConfig())
    await emulator.start()
    settings = bot_settings(emulator.base_url, tmp_path)
    services = Services.build(settings, redis=redis_client)
    try:
        await services.knowledge.store.ensure()
        old = emulator.create_doc("售后手册", [{"type": "text", "text": "大件家电预约后48小时内上门取件。"}])
        await services.docsync.subscribe(old["document_id"])
        assert await services.knowledge.store.chunk_ids(source_id_for(old["document_id"]))
        # The next run's emulator no longer has that doc (a new demo doc replaces it).
        await emulator.delete_doc(old["document_id"])
        new = emulator.create_doc("售后手册", [{"type": "text", "text": "大件家电预约后24小时内上门取件。"}])
        services.settings = settings.model_copy(update={"feishu_sync_docs": new["document_id"]})
        await warm_knowledge(services)
        assert not await services.knowledge.store.chunk_ids(source_id_for(old["document_id"]))
        assert await services.knowledge.store.chunk_ids(source_id_for(new["document_id"]))
        assert [s.document_id for s in services.docsync.subs.all()] == [new["document_id"]]
    finally:
        await services.milvus.close()
        await services.feishu.close()
        await emulator.stop()


async def test_not_ready_while_the_sample_shop_loads_then_its_questions_are_answered(tmp_path):
    """A fresh `make run` answered "not found" to every question asked while the sample shop was still being
    ingested (it took 24 s on these machines) although /readyz said ready."""
    redis = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    client = None
    # Another process is loading the knowledge (the start-up lock is taken): this one must not be ready.
    async with redis_lock(redis, "larkdesk:lock:warm_knowledge", ttl_s=60):
        server = await start_rest_server(tmp_path, redis=redis, faq=False, sample_kb=True)
        client = JsonClient(server.url)
        status, body = await client.call("GET", "/readyz")
        assert status == 503 and body["checks"]["knowledge"].endswith("loading the sample knowledge base")
        assert body["checks"]["redis"] == "ok"
    try:
        for _ in range(240):
            status, body = await client.call("GET", "/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.5)
        assert status == 200 and body["checks"]["knowledge"] == "ok"
        assert await server.services.knowledge.store.count() > 0  # ready means the shop's knowledge is in
        status, reply = await client.call("POST", "/api/v1/chat", json={"message": "下单后多久发货？"})
        assert status == 200 and reply["data"]["decision"] == "answer", reply
    finally:
        await client.close()
        await server.close()
        await server.services.milvus.close()
