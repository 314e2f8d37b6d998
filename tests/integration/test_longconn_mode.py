"""The bot in long-connection mode (`FEISHU_EVENT_MODE=websocket`) against an in-process emulator."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest
from aiohttp.test_utils import TestServer
from lark_oapi.ws.exception import ClientException

from bot.app import create_app
from bot.services import Services
from config.settings import Settings
from emulator import Emulator, EmulatorConfig
from feishu.events import FeishuEvent
from tests.integration.conftest import echo_services
from tests.polling import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def emulator():
    emu = Emulator(EmulatorConfig(retry_time_scale=0.001, seed=11))
    await emu.start()
    yield emu
    await emu.stop()


def ws_settings(emulator: Emulator, tmp_path) -> Settings:
    c = emulator.config
    return Settings(
        feishu_app_id=c.app_id,
        feishu_app_secret=c.app_secret,
        feishu_verification_token=c.verification_token,
        feishu_encrypt_key=c.encrypt_key,
        feishu_domain=emulator.base_url,
        feishu_bot_open_id=c.bot_open_id,
        feishu_event_mode="websocket",
        milvus_uri="",
        data_dir=tmp_path,
        queue_retry_backoff_ms=50,
        log_level="WARNING",
    )


async def test_message_over_long_connection_is_queued_and_answered_once(emulator: Emulator, tmp_path):
    s = ws_settings(emulator, tmp_path)
    services = echo_services(s, fakeredis.FakeAsyncRedis(decode_responses=True))
    async with TestServer(create_app(s, services=services)):
        assert emulator.longconn.connected == 1  # connected during startup
        emulator.set_delivery(duplicates=2)  # Feishu may push the same event twice
        out = await emulator.send_user_message("ou_alice", "你好", wait=True)
        assert [d["status"] for d in out["deliveries"]] == [200, 200]
        assert all(d["url"].startswith("longconn://") for d in out["deliveries"])
        # it went through the webhook's queue (dedup marks by event id and message id)
        redis = services.redis
        assert await redis.exists(f"larkdesk:dedup:event:{out['event_id']}") == 1
        assert await redis.exists(f"larkdesk:dedup:message:{out['message_id']}") == 1
        reply = await emulator.wait_for_message(lambda m: m["sender"]["type"] == "app", timeout_s=5)
        assert reply["text"] == "收到：你好" and reply["chat_id"] == out["chat_id"]
        await asyncio.sleep(0.3)  # a second reply would have come by now
        assert len(emulator.bot_messages(out["chat_id"])) == 1
    await eventually(lambda: emulator.longconn.connected == 0)


async def test_card_click_over_long_connection_gets_the_handlers_toast(emulator: Emulator, tmp_path):
    s = ws_settings(emulator, tmp_path)
    services = echo_services(s, fakeredis.FakeAsyncRedis(decode_responses=True))
    clicks: list[FeishuEvent] = []

    async def on_card(event: FeishuEvent) -> dict:
        clicks.append(event)
        value = event.event["action"]["value"]["action"]
        card = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": f"{value} done"}]}}
        return {"toast": {"type": "success", "content": f"clicked {value}"}, "card": {"type": "raw", "data": card}}

    services.registry.add_callback("card.action.trigger", on_card)
    async with TestServer(create_app(s, services=services, run_workers=False)):
        chat = emulator.create_group(name="agents", members=["ou_tom"])
        card = {
            "schema": "2.0",
            "body": {
                "elements": [
                    {
                        "tag": "button",
                        "element_id": "claim",
                        "text": {"tag": "plain_text", "content": "Claim"},
                        "behaviors": [{"type": "callback", "value": {"action": "claim"}}],
                    }
                ]
            },
        }
        sent = await services.feishu.send_card(chat["chat_id"], card)
        res = await emulator.click_card(sent["message_id"], "ou_tom", {"action": "claim"})
        assert res["status"] == 200 and res["toast"] == {"type": "success", "content": "clicked claim"}
        assert res["applied"] is True and emulator.message(sent["message_id"])["text"] == "claim done"
        assert emulator.deliveries(kind="card")[0]["url"].startswith("longconn://")
        assert [c.event_id for c in clicks] == [res["event_id"]]
        # the click is not queued: it was answered inline
        assert await services.queue.redis.exists(f"larkdesk:dedup:event:{res['event_id']}") == 0


async def test_wrong_secret_fails_startup(emulator: Emulator, tmp_path):
    s = ws_settings(emulator, tmp_path).model_copy(update={"feishu_app_secret": "wrong"})
    services = Services.build(s, redis=fakeredis.FakeAsyncRedis(decode_responses=True))
    server = TestServer(create_app(s, services=services, run_workers=False))
    with pytest.raises(ClientException, match="app secret invalid"):
        await server.start_server()
    await server.close()
    assert emulator.longconn.connected == 0
