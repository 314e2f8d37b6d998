"""The emulator's long connection, driven by the real `lark.ws.Client` and `lark.EventDispatcherHandler`."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import lark_oapi as lark
import pytest
from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody
from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse
from lark_oapi.ws.exception import ClientException

from bot.longconn import SdkThread, WsClient
from emulator import Emulator
from tests.emulator.conftest import Receiver, call
from tests.polling import eventually

pytestmark = pytest.mark.integration


class WsBot:
    """A bot on the long connection: the SDK client in its own thread, the SDK's own dispatcher."""

    def __init__(self, emulator: Emulator, *, secret: str | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.card_response: dict | None = None
        self.delay_first_s = 0.0
        handler = (
            lark.EventDispatcherHandler.builder("", "")
            .register_p2_im_message_receive_v1(lambda d: self._record("im.message.receive_v1", d))
            .register_p2_customized_event("larkdesk.test_v1", lambda d: self._record("larkdesk.test_v1", d))
            .register_p2_card_action_trigger(self._on_card)
            .build()
        )
        cfg = emulator.config
        self.thread = SdkThread(
            lambda: WsClient(
                cfg.app_id,
                cfg.app_secret if secret is None else secret,
                log_level=lark.LogLevel.CRITICAL,
                event_handler=handler,
                domain=emulator.base_url,
                auto_reconnect=False,
            )
        )

    def _record(self, kind: str, data: Any) -> None:
        if self.delay_first_s:
            delay, self.delay_first_s = self.delay_first_s, 0.0
            time.sleep(delay)  # runs in the SDK thread: holds back the answer
        self.events.append((kind, data))

    def _on_card(self, data: Any) -> P2CardActionTriggerResponse:
        self._record("card.action.trigger", data)
        return P2CardActionTriggerResponse(self.card_response or {})

    def event_ids(self) -> list[str]:
        return [d.header.event_id for _, d in self.events]

    @property
    def client(self) -> Any:
        return self.thread.client


@pytest.fixture
async def bots(emulator: Emulator):
    started: list[WsBot] = []

    async def connect(**kw: Any) -> WsBot:
        bot = WsBot(emulator, **kw)
        started.append(bot)
        await bot.thread.start(ready_timeout_s=5)
        return bot

    yield connect
    for bot in started:
        await bot.thread.stop()


async def test_event_is_pushed_as_plaintext_and_answered(emulator: Emulator, bots):
    bot = await bots()
    assert emulator.longconn.connected == 1
    out = await emulator.send_user_message("ou_alice", "hello over ws", wait=True)
    [rec] = out["deliveries"]
    conn_id = emulator.longconn.view()["clients"][0]["conn_id"]
    assert rec["kind"] == "event" and rec["status"] == 200 and rec["error"] is None
    assert rec["url"] == f"longconn://{conn_id}" and rec["latency_ms"] > 0
    assert rec["response_body"] is None  # an event handler returns nothing: the answer is {"code":200}
    [(kind, data)] = bot.events
    assert kind == "im.message.receive_v1" and data.header.event_id == out["event_id"]
    assert data.event.message.message_id == out["message_id"]
    assert json.loads(data.event.message.content) == {"text": "hello over ws"}
    # a type the client has no handler for: the SDK answers 500, so the emulator re-pushes it
    res = await emulator.send_event("larkdesk.unknown_v1", {"x": 1}, wait=True)
    assert res["deliveries"][0]["status"] == 500


async def test_ping_is_answered_with_pong_carrying_client_config(emulator: Emulator, bots):
    emulator.config.longconn_ping_interval_s = 0.2
    bot = await bots()
    assert bot.client._ping_interval == 0.2  # from the endpoint's ClientConfig
    emulator.config.longconn_reconnect_count = 7
    await eventually(lambda: emulator.longconn.pings >= 2 and bot.client._reconnect_count == 7)
    async with aiohttp.ClientSession() as s, s.get(emulator.base_url + "/_emulator/longconn") as r:
        view = await r.json()
    assert view["clients"][0]["pings"] >= 2 and view["transport"] == "auto"


async def test_wrong_secret_is_refused(emulator: Emulator, bots):
    with pytest.raises(ClientException, match="app secret invalid"):
        await bots(secret="wrong")
    assert emulator.longconn.connected == 0
    assert emulator.longconn.refused[-1]["code"] == 10014
    async with aiohttp.ClientSession() as s:
        body = {"AppID": emulator.config.app_id, "AppSecret": "wrong"}
        async with s.post(emulator.base_url + "/callback/ws/endpoint", json=body) as r:
            answer = await r.json()
        assert answer["code"] != 0 and "data" not in answer
        body["AppSecret"] = emulator.config.app_secret
        async with s.post(emulator.base_url + "/callback/ws/endpoint", json=body) as r:
            answer = await r.json()
    assert answer["code"] == 0
    assert answer["data"]["URL"].startswith(f"ws://127.0.0.1:{emulator.port}/callback/ws?device_id=")
    config_keys = {"ReconnectCount", "ReconnectInterval", "ReconnectNonce", "PingInterval"}
    assert set(answer["data"]["ClientConfig"]) == config_keys


async def test_each_event_goes_to_one_of_two_clients(emulator: Emulator, bots):
    a, b = await bots(), await bots()
    assert emulator.longconn.connected == 2
    events = [{"event_type": "larkdesk.test_v1", "event": {"n": i}} for i in range(20)]
    out = await emulator.send_events(events, wait=True)
    assert [d["status"] for d in out["deliveries"]] == [200] * 20
    assert sorted(a.event_ids() + b.event_ids()) == sorted(out["event_ids"])
    assert a.events and b.events  # random choice spread them (seeded)
    assert len({d["url"] for d in out["deliveries"]}) == 2


async def test_connection_limit(emulator: Emulator, bots):
    emulator.config.longconn_max_connections = 1
    await bots()
    with pytest.raises(ClientException, match="exceed connection limit"):
        await bots()
    assert emulator.longconn.connected == 1


async def test_unanswered_push_is_repushed(emulator: Emulator, bots):
    emulator.config.delivery_timeout_s = 0.3
    bot = await bots()
    bot.delay_first_s = 0.6
    out = await emulator.send_event("larkdesk.test_v1", {"n": 1}, wait=True)
    assert out["deliveries"][0]["status"] is None and "timeout" in out["deliveries"][0]["error"]
    await eventually(lambda: len(emulator.deliveries(kind="event")) == 2)
    await emulator.wait_idle(2)
    first, second = emulator.deliveries(kind="event")
    assert (first["attempt"], first["status"]) == (1, None)
    assert (second["attempt"], second["status"]) == (2, 200) and second["event_id"] == out["event_id"]
    assert bot.event_ids() == [out["event_id"]] * 2  # the slow first answer came too late


async def test_card_callback_over_long_connection(emulator: Emulator, bots, sdk: lark.Client):
    bot = await bots()
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
    body = CreateMessageRequestBody.builder().receive_id("ou_agent").msg_type("interactive")
    req = CreateMessageRequest.builder().receive_id_type("open_id").request_body(body.content(json.dumps(card)).build())
    sent = await call(sdk.im.v1.message.create, req.build())
    assert sent.success(), sent.msg
    new_card = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": "Claimed"}]}}
    bot.card_response = {"toast": {"type": "success", "content": "claimed"}, "card": {"type": "raw", "data": new_card}}
    res = await emulator.click_card(sent.data.message_id, "ou_tom", {"action": "claim"})
    assert res["status"] == 200 and res["toast"] == {"type": "success", "content": "claimed"}
    assert res["applied"] is True and emulator.message(sent.data.message_id)["text"] == "Claimed"
    [rec] = emulator.deliveries(kind="card")
    assert rec["url"].startswith("longconn://")
    [(kind, data)] = bot.events
    assert kind == "card.action.trigger" and data.event.action.value == {"action": "claim"}


async def test_transport_switch(emulator: Emulator, receiver: Receiver, bots):
    out = await emulator.send_event("larkdesk.test_v1", {"n": 0}, wait=True)
    assert out["deliveries"][0]["url"] == receiver.url  # no client connected: HTTP
    bot = await bots()
    out = await emulator.send_event("larkdesk.test_v1", {"n": 1}, wait=True)
    assert out["deliveries"][0]["url"].startswith("longconn://") and bot.event_ids() == [out["event_id"]]
    emulator.set_delivery(event_transport="webhook")
    out = await emulator.send_event("larkdesk.test_v1", {"n": 2}, wait=True)
    assert out["deliveries"][0]["url"] == receiver.url and len(receiver.of_type("larkdesk.test_v1")) == 2
    await bot.thread.stop()
    await eventually(lambda: emulator.longconn.connected == 0)
    emulator.set_delivery(event_transport="websocket", retry_time_scale=100)
    out = await emulator.send_event("larkdesk.test_v1", {"n": 3}, wait=True)
    assert out["deliveries"][0]["error"] == "no long-connection client connected"
