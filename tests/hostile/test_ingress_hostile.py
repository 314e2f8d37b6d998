"""What a stranger (or a signed but malformed event) can send to POST /feishu/events: never a 5xx, never a
retried-forever event, never an event of the wrong shape handed to a handler."""

from __future__ import annotations

import json

import fakeredis
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, create_app
from bot.services import Services
from config.settings import Settings
from emulator import crypto
from feishu.events import FeishuEvent
from observability.metrics import EVENTS_INVALID
from tests.signing import ENCRYPT_KEY, TOKEN, envelope, signed_request, text_message_event

pytestmark = pytest.mark.unit


def settings(tmp_path, **kw) -> Settings:
    values = dict(feishu_app_id="cli_test", feishu_app_secret="s", feishu_verification_token=TOKEN,
                  feishu_encrypt_key=ENCRYPT_KEY, feishu_domain="http://127.0.0.1:1", milvus_uri="",
                  data_dir=tmp_path, sample_kb=False)
    values.update(kw)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def bot(tmp_path):
    s = settings(tmp_path)
    services = Services.build(s, redis=fakeredis.FakeAsyncRedis(decode_responses=True))
    handled: list[FeishuEvent] = []

    async def record(event: FeishuEvent) -> None:
        handled.append(event)

    async def on_card(event: FeishuEvent) -> dict:
        handled.append(event)
        return {"toast": {"type": "success", "content": "ok"}}

    for event_type in ("im.message.receive_v1", "drive.file.edit_v1", "application.bot.menu_v6",
                       "larkdesk.card_ask_v1", "larkdesk.desk_followup_v1"):
        services.registry.add_event(event_type, record)
    services.registry.add_callback("card.action.trigger", on_card)
    app = create_app(s, services=services, run_workers=False)
    async with TestClient(TestServer(app)) as client:
        client.handled = handled  # type: ignore[attr-defined]
        yield client


async def post(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict | str]:
    resp = await client.post("/feishu/events", data=body, headers=headers or {"Content-Type": "application/json"})
    text = await resp.text()
    assert "Traceback" not in text
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


async def queued(client: TestClient) -> int:
    return await client.app[SERVICES].queue.depth()


async def send_signed(client: TestClient, payload: dict) -> tuple[int, dict | str]:
    body, headers = signed_request(payload)
    return await post(client, body, headers)


@pytest.mark.parametrize("body", [b"[" * 1000, b"[" * 100_000, b'{"a":' * 5000, b"{" + b'"k":[' * 40 + b"1",
                                  b"\xff\xfe\x00", b"null", b"[]", b'"x"', b"{}", b'{"encrypt": 5}',
                                  b'{"encrypt": "not base64!"}', b'{"header": [], "event": 1}'])
async def test_unsigned_garbage_is_a_4xx(bot, body):
    status, answer = await post(bot, body)
    assert 400 <= status < 500, (status, answer)
    assert await queued(bot) == 0


async def test_deep_json_inside_a_signed_body_is_a_400(bot):
    deep = json.dumps({"schema": "2.0"})[:-1] + ', "x": ' + "[" * 200 + "]" * 200 + "}"
    body = json.dumps({"encrypt": crypto.encrypt(deep, ENCRYPT_KEY)}).encode()
    _, headers = signed_request({})
    headers["X-Lark-Signature"] = crypto.signature(headers["X-Lark-Request-Timestamp"],
                                                   headers["X-Lark-Request-Nonce"], ENCRYPT_KEY, body)
    status, answer = await post(bot, body, headers)
    assert status == 400 and "nested deeper" in answer["error"]["message"]


async def test_non_ascii_signature_headers_are_refused_before_any_check(bot):
    body, headers = signed_request(envelope("im.message.receive_v1", text_message_event("hi")))
    for name in ("X-Lark-Signature", "X-Lark-Request-Timestamp", "X-Lark-Request-Nonce"):
        bad = dict(headers)
        bad[name] = "１２３４５"  # full-width digits: int() would accept them as a timestamp
        status, answer = await post(bot, body, bad)
        assert status == 400 and "ASCII" in answer["error"]["message"]
    assert await queued(bot) == 0


def message(**changes) -> dict:
    event = text_message_event("你好")
    for path, value in changes.items():
        target = event
        *parents, leaf = path.split("__")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return event


WRONG_TYPES = {
    "message is a string": {"sender": {"sender_id": {"open_id": "ou_x"}}, "message": "hello"},
    "sender is a number": message(sender=42),
    "mentions is a number": message(message__mentions=7),
    "mention id is a list": message(message__mentions=[{"id": ["ou_x"]}]),
    "message_id is a number": message(message__message_id=123),
    "chat_id is an object": message(message__chat_id={"a": 1}),
    "content is a list": message(message__content=["x"]),
    "event is a list": [1, 2],
    "no message at all": {"sender": {}},
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
async def test_signed_events_of_the_wrong_shape_are_acknowledged_and_dropped(bot, case):
    before = EVENTS_INVALID.labels("im.message.receive_v1")._value.get()
    status, answer = await send_signed(bot, envelope("im.message.receive_v1", WRONG_TYPES[case]))
    assert (status, answer) == (200, {"msg": "success"})  # acknowledged: Feishu must not retry it
    assert await queued(bot) == 0  # never queued, so never retried or dead-lettered
    assert EVENTS_INVALID.labels("im.message.receive_v1")._value.get() == before + 1


async def test_post_lines_of_the_wrong_type_read_as_text_not_a_crash(bot):
    from feishu.message_text import parse_message_event

    content = json.dumps({"title": "t", "content": [5, "x", [{"text": 1}, {"tag": "text", "text": "好"}], None]})
    event = message(message__message_type="post", message__content=content)
    status, _ = await send_signed(bot, envelope("im.message.receive_v1", event))
    assert status == 200 and await queued(bot) == 1  # a valid envelope: content is parsed defensively
    assert parse_message_event(event).text == "t 好"
    for broken in ("[" * 10_000, "{", "null", json.dumps({"text": ["a"]}), json.dumps({"zh_cn": 5})):
        assert parse_message_event(message(message__content=broken)).text == ""
    for event in WRONG_TYPES.values():  # even if one got through, reading it never raises
        parse_message_event(event)


async def test_lone_surrogates_are_replaced_not_answered_503(bot):
    # A lone surrogate in the event id (a Redis key) and in the text used to make the queue answer 503 forever.
    payload = envelope("im.message.receive_v1", text_message_event("ok"), event_id="ev-\ud800-1")
    payload["event"]["message"]["chat_id"] = "oc_\udc00"
    plain = json.dumps(payload)  # ensure_ascii: the surrogates travel as \\ud800 escapes, as a sender would
    body = json.dumps({"encrypt": crypto.encrypt(plain, ENCRYPT_KEY)}).encode()
    _, headers = signed_request({})
    headers["X-Lark-Signature"] = crypto.signature(headers["X-Lark-Request-Timestamp"],
                                                   headers["X-Lark-Request-Nonce"], ENCRYPT_KEY, body)
    status, answer = await post(bot, body, headers)
    assert (status, answer) == (200, {"msg": "success"})
    assert await queued(bot) == 1
    queue = bot.app[SERVICES].queue
    await queue.ensure_group()
    stored = (await queue.read("t", 10, 10))[0]
    assert stored.event_id == "ev-\ufffd-1" and stored.event["message"]["chat_id"] == "oc_\ufffd"
    status, _ = await post(bot, body, headers)  # a redelivery is a duplicate, as for any event
    assert status == 200 and await queued(bot) == 1


@pytest.mark.parametrize("event_type", ["larkdesk.card_ask_v1", "larkdesk.desk_followup_v1"])
async def test_internal_event_types_are_refused_at_the_door(bot, event_type):
    payload = envelope(event_type, {"question": "x", "chat_id": "oc_1", "message_id": "om_1", "open_id": "ou_1",
                                    "kind": "claimed", "session": "s_1"})
    status, answer = await send_signed(bot, payload)
    assert status == 403 and answer["error"]["code"] == "internal_event_type"
    assert await queued(bot) == 0 and bot.handled == []


@pytest.mark.parametrize("action", ["click", 5, ["claim"], {"value": "claim"}, {"value": {"score": "many"}},
                                    {"value": {"session": {"id": 1}}}, {"form_value": "x", "value": {}}])
async def test_card_callbacks_of_the_wrong_shape_get_a_toast(bot, action):
    payload = envelope("card.action.trigger", {"operator": {"open_id": "ou_a"}, "action": action,
                                               "context": {"open_message_id": "om_1", "open_chat_id": "oc_1"}})
    status, answer = await send_signed(bot, payload)
    assert status == 200 and answer["toast"]["type"] == "warning"
    assert bot.handled == []  # the handler never saw it


async def test_a_well_formed_card_click_still_reaches_its_handler(bot):
    payload = envelope("card.action.trigger", {"operator": {"open_id": "ou_a"},
                                               "action": {"value": {"action": "claim", "session": "s_1"}}})
    status, answer = await send_signed(bot, payload)
    assert (status, answer) == (200, {"toast": {"type": "success", "content": "ok"}})
    assert len(bot.handled) == 1


@pytest.mark.parametrize("event", [{"file_token": 5}, {"file_token": ""}, {}, "doc"])
async def test_drive_events_need_a_file_token(bot, event):
    status, _ = await send_signed(bot, envelope("drive.file.edit_v1", event))
    assert status == 200 and await queued(bot) == 0
