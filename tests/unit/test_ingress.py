"""The ingress path: challenges, every rejection, dedup, unknown types, card callbacks, Redis down."""

from __future__ import annotations

import json

import fakeredis
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, create_app
from bot.services import Services
from config.settings import Settings
from feishu.events import FeishuEvent
from tests.signing import ENCRYPT_KEY, TOKEN, envelope, signed_request, text_message_event

pytestmark = pytest.mark.unit


def settings(**kw) -> Settings:
    base = dict(feishu_app_id="cli_test", feishu_app_secret="s", feishu_verification_token=TOKEN,
                feishu_encrypt_key=ENCRYPT_KEY, feishu_domain="http://127.0.0.1:1", event_max_body_bytes=4096,
                milvus_uri="", data_dir="/tmp/larkdesk-test-data", sample_kb=False)  # no shop to ingest here
    base.update(kw)
    return Settings(**base)


@pytest.fixture
async def bot(tmp_path):
    s = settings(data_dir=tmp_path)
    services = Services.build(s, redis=fakeredis.FakeAsyncRedis(decode_responses=True))
    handled: list[FeishuEvent] = []

    async def record(event: FeishuEvent) -> None:
        handled.append(event)

    async def on_card(event: FeishuEvent) -> dict:
        return {"toast": {"type": "success", "content": f"clicked {event.event['action']['value']['action']}"}}

    services.registry.add_event("im.message.receive_v1", record)
    services.registry.add_callback("card.action.trigger", on_card)
    app = create_app(s, services=services, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        client.handled = handled  # type: ignore[attr-defined]
        yield client


async def post(client: TestClient, body: bytes, headers: dict[str, str] | None = None):
    resp = await client.post("/feishu/events", data=body, headers=headers or {"Content-Type": "application/json"})
    return resp.status, await resp.json()


async def queued(client: TestClient) -> int:
    return await client.app[SERVICES].queue.depth()


async def test_plain_challenge_is_answered():
    s = settings(feishu_encrypt_key="")
    app = create_app(s, redis=fakeredis.FakeAsyncRedis(decode_responses=True), run_workers=False)
    async with TestClient(TestServer(app)) as client:
        body = json.dumps({"challenge": "ajls384kdjx", "token": TOKEN, "type": "url_verification"}).encode()
        status, answer = await post(client, body)
        assert (status, answer) == (200, {"challenge": "ajls384kdjx"})
        bad = json.dumps({"challenge": "x", "token": "wrong", "type": "url_verification"}).encode()
        status, answer = await post(client, bad)
        assert status == 403


async def test_encrypted_challenge_is_answered_in_plain_json(bot):
    from emulator import crypto

    payload = {"challenge": "c-123", "token": TOKEN, "type": "url_verification"}
    body = json.dumps({"encrypt": crypto.encrypt(json.dumps(payload), ENCRYPT_KEY)}).encode()
    status, answer = await post(bot, body)
    assert (status, answer) == (200, {"challenge": "c-123"})


async def test_signed_event_is_queued_once_and_duplicates_acknowledged(bot):
    payload = envelope("im.message.receive_v1", text_message_event("hi", message_id="om_1"), event_id="ev1")
    for _ in range(3):
        status, answer = await post(bot, *signed_request(payload))
        assert (status, answer) == (200, {"msg": "success"})
    # Feishu may also resend the same message under a new event id.
    again = envelope("im.message.receive_v1", text_message_event("hi", message_id="om_1"), event_id="ev2")
    assert (await post(bot, *signed_request(again)))[0] == 200
    assert await queued(bot) == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [("bad_signature", 401), ("wrong_token", 403), ("stale", 401), ("future", 401), ("unsigned", 401)],
)
async def test_rejections_never_reach_the_queue(bot, case, status):
    token = "wrong-token" if case == "wrong_token" else TOKEN
    payload = envelope("im.message.receive_v1", text_message_event("hi"), token=token)
    ts = {"stale": 1_000_000_000, "future": 4_000_000_000}.get(case)
    body, headers = signed_request(payload, timestamp=ts, tamper=case == "bad_signature")
    if case == "unsigned":
        headers = {"Content-Type": "application/json"}
    got, answer = await post(bot, body, headers)
    assert got == status
    assert answer["status"] == "error" and answer["error"]["message"]
    assert await queued(bot) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b"[1,2]", 400), (b"", 400), (b'{"encrypt":"bm90IGFlcw=="}', 400), (b"{}", 401)],
)
async def test_malformed_bodies_get_a_clear_4xx(bot, body, status):
    got, answer = await post(bot, body)
    assert got == status
    assert answer["error"]["code"] == "rejected"
    assert await queued(bot) == 0


async def test_oversize_body_gets_413(bot):
    payload = envelope("im.message.receive_v1", text_message_event("x" * 10_000))
    got, answer = await post(bot, *signed_request(payload))
    assert got == 413
    assert "larger than 4096" in answer["error"]["message"]
    assert await queued(bot) == 0


async def test_unknown_event_type_is_acknowledged_not_queued(bot):
    payload = envelope("contact.user.updated_v3", {"object": {}})
    got, answer = await post(bot, *signed_request(payload))
    assert (got, answer) == (200, {"msg": "success"})
    assert await queued(bot) == 0


async def test_card_callback_answers_inline_and_duplicates_get_the_first_answer(bot):
    event = {"operator": {"open_id": "ou_agent"}, "token": "c-1",
             "action": {"value": {"action": "claim"}, "tag": "button"},
             "context": {"open_message_id": "om_card", "open_chat_id": "oc_agents"}}
    payload = envelope("card.action.trigger", event, event_id="cb1")
    first = await post(bot, *signed_request(payload))
    second = await post(bot, *signed_request(payload))
    assert first == (200, {"toast": {"type": "success", "content": "clicked claim"}})
    assert second == first
    assert await queued(bot) == 0


async def test_redis_down_answers_503_so_feishu_retries(bot):
    services = bot.app[SERVICES]

    async def broken(*_a, **_kw):
        raise ConnectionError("redis down")

    services.queue._enqueue = broken  # the Redis call the ingress makes
    payload = envelope("im.message.receive_v1", text_message_event("hi"))
    got, answer = await post(bot, *signed_request(payload))
    assert got == 503
    assert answer["error"]["code"] == "queue_unavailable"


async def test_health_ready_and_metrics(bot):
    assert (await bot.get("/healthz")).status == 200
    alone = await bot.get("/readyz")  # a front whose workers run elsewhere: none has reported in yet
    assert alone.status == 503 and "no worker" in (await alone.json())["checks"]["workers"]
    await bot.app[SERVICES].queue.touch("worker-elsewhere", [])  # a worker's heartbeat
    ready = await bot.get("/readyz")
    assert ready.status == 200, await ready.text()
    assert (await ready.json())["checks"] == {"redis": "ok", "vector_store": "ok", "workers": "ok"}
    metrics = await (await bot.get("/metrics")).text()
    assert "larkdesk_ingress_requests_total" in metrics
