"""Privacy by default, through the Feishu emulator and the REST API: a conversation full of personal numbers
leaves none unmasked in Redis, logs, REST views, cards, threads or LLM prompts; an agent may reveal a
customer's own phone number (when allowed, audited, to that agent only); /forget and
DELETE /api/v1/customers/{id} erase a customer's sessions, traces and whatever else plugs in."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
import structlog
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from desk.privacy import audit_trail
from observability.logging import configure_logging
from tests.hostile.pii_scan import MESSAGES, PHONE, leaks, lookalikes, redis_leaks
from tests.integration.conftest import ADMIN, AGENT_CHAT, AGENTS, bot_settings
from tests.integration.test_knowledge import FAQ
from tests.openai_chat_server import ChatRequest, OpenAIChatServer
from tests.rest_client import JsonClient

pytestmark = pytest.mark.integration


def model(request: ChatRequest) -> str:
    if "classify the latest message" in request.system:
        latest = request.last_user.rsplit("Latest message:", 1)[-1]
        return json.dumps({"intent": "human_request" if "转人工" in latest else "faq", "negative": False})
    if "rewrite a customer's latest message" in request.system:
        return request.last_user.rsplit("Latest message: ", 1)[-1].strip()
    if "verify answers" in request.system:
        return '{"grounded": true, "unsupported": []}'
    return "签收后7天内可无理由退货[1]。"


@pytest.fixture
async def llm():
    async with OpenAIChatServer() as server:
        server.responder = model
        yield server


async def start(emulator, tmp_path, redis_client, llm, **overrides) -> tuple[Services, TestServer]:
    emulator.create_group(AGENT_CHAT, "客服组", members=list(AGENTS), names=AGENTS)
    settings = bot_settings(emulator.base_url, tmp_path, feishu_agent_chat_id=AGENT_CHAT, feishu_admin_open_ids=ADMIN,
                            desk_working_hours="", llm_base_url=llm.base_url, llm_api_key="test-key",
                            llm_model="test-model", feishu_stream_replies=False, cache_enabled=False, **overrides)
    services = Services.build(settings, redis=redis_client)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    emulator.set_delivery(event_callback_url=str(server.make_url("/feishu/events")),
                          card_callback_url=str(server.make_url("/feishu/cards")))
    (tmp_path / "faq.jsonl").write_text(FAQ, encoding="utf-8")
    await services.knowledge.kb.ingest_file(tmp_path / "faq.jsonl")
    return services, server


async def card_of(emulator) -> dict:
    return await emulator.wait_for_message(
        lambda m: m["chat_id"] == AGENT_CHAT and m["msg_type"] == "interactive" and not m.get("parent_id"), 15)


async def session_of(services, card: dict):
    """The session the card is linked to (linked right after Feishu accepted the card)."""
    for _ in range(200):
        session = await services.desk.sessions.by_card(card["message_id"])
        if session is not None:
            return session
        await asyncio.sleep(0.02)
    raise AssertionError("the card was never linked to its session")


async def conversation_full_of_personal_numbers(emulator, services) -> tuple[str, dict]:
    """A question with a phone number (answered by the LLM), a hand-over with more numbers, numbers relayed to the
    agents while pending and after the claim. Returns (session id, the card message)."""
    first = await emulator.send_user_message("ou_pii", f"我的手机号是{PHONE}，东西收到了想退货，怎么弄？")
    await emulator.wait_for_message(lambda m: m.get("parent_id") == first["message_id"], 15)
    await emulator.send_user_message("ou_pii", MESSAGES[1] + "，转人工")
    card = await card_of(emulator)
    session = await session_of(services, card)
    await emulator.send_user_message("ou_pii", MESSAGES[2])
    await emulator.wait_for_message(lambda m: m.get("root_id") == card["message_id"] and "卡号" in m["text"], 10)
    clicked = await emulator.click_card(card["message_id"], "ou_agent_ann", {"action": "claim",
                                                                           "session": session.session_id})
    assert clicked["toast"]["type"] == "success"
    await emulator.send_user_message("ou_pii", MESSAGES[3])
    await emulator.wait_for_message(lambda m: m.get("root_id") == card["message_id"] and "邮箱" in m["text"], 10)
    await emulator.wait_idle()
    return session.session_id, card


async def test_a_conversation_full_of_personal_numbers_leaves_none_unmasked(emulator, tmp_path, redis_client, llm,
                                                                            capsys):
    configure_logging("DEBUG", "json")  # the product's log set-up, masking processor included...
    structlog.configure(cache_logger_on_first_use=False)  # ...without caching loggers other tests reconfigure
    services, server = await start(emulator, tmp_path, redis_client, llm)
    api = JsonClient(str(server.make_url("")).rstrip("/"))
    try:
        session_id, _card = await conversation_full_of_personal_numbers(emulator, services)
        # A REST customer says the same things.
        status, chat = await api.post("/api/v1/chat", {"message": MESSAGES[0], "user_id": "u_pii"})
        assert status == 200
        for text in MESSAGES[1:]:
            assert (await api.post("/api/v1/chat", {"message": text, "session_id": chat["session_id"]}))[0] == 200

        assert await redis_leaks(services.redis) == {}
        views = [await api.get(f"/api/v1/agent/sessions/{sid}") for sid in (session_id, chat["session_id"])]
        views += [await api.get("/api/v1/agent/sessions/pending"), await api.get("/api/v1/monitor/traces?limit=50")]
        assert all(status == 200 for status, _ in views)
        assert leaks(json.dumps(views, ensure_ascii=False)) == []
        agent_group = emulator.bot_messages(AGENT_CHAT)
        assert len(agent_group) >= 3 and leaks(json.dumps(agent_group, ensure_ascii=False)) == []
        prompts = "\n".join(r.text for r in llm.requests)
        assert "138****5678" in prompts  # the numbers reached the model masked only
        assert leaks(prompts) == [] and lookalikes(prompts) == []
        logged = capsys.readouterr().err
        assert "conversation.turn" in logged and leaks(logged) == []
        # What was masked is still useful: agents see the shape of what the customer wrote.
        history = views[0][1]["history"]
        assert any("138****5678" in h["content"] for h in history)
        assert any("110105************" in h["content"] for h in history)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
        await api.close()
        await server.close()


async def test_an_agent_may_reveal_the_customers_own_phone_when_allowed(emulator, tmp_path, redis_client, llm):
    services, server = await start(emulator, tmp_path, redis_client, llm, desk_reveal_phone=True)
    try:
        await emulator.send_user_message("ou_pii", f"我的手机号是 {PHONE}，转人工")
        card = await card_of(emulator)
        session = await session_of(services, card)
        value = {"action": "reveal_phone", "session": session.session_id}
        assert "btn_reveal_phone" not in json.dumps(card["content"])  # not before someone holds the session

        await emulator.click_card(card["message_id"], "ou_agent_ann", {"action": "claim",
                                                                      "session": session.session_id})
        assert "btn_reveal_phone" in json.dumps(emulator.message(card["message_id"])["content"])
        other = await emulator.click_card(card["message_id"], "ou_agent_bob", value)
        assert PHONE not in json.dumps(other, ensure_ascii=False) and "认领" in other["toast"]["content"]
        outsider = await emulator.click_card(card["message_id"], "ou_stranger", value)
        assert PHONE not in json.dumps(outsider, ensure_ascii=False)

        shown = await emulator.click_card(card["message_id"], "ou_agent_ann", value)
        assert shown["toast"]["content"].endswith(PHONE)  # the toast: only the clicking agent sees it
        reveals = [(e["actor"], e["session_id"]) for e in await audit_trail(services.redis)
                   if e["action"] == "reveal_phone"]
        assert reveals[0] == ("ou_agent_ann", session.session_id)
        await emulator.wait_idle()
        # Kept unmasked in one place only, the session's contact set; the stored callback answer is masked.
        assert await redis_leaks(services.redis, skip=(":contact",)) == {}
        assert await services.desk.sessions.contact_phones(session.session_id) == [PHONE]
    finally:
        await server.close()


async def test_forget_erases_sessions_traces_and_plugged_in_stores(emulator, tmp_path, redis_client, llm):
    services, server = await start(emulator, tmp_path, redis_client, llm)
    api = JsonClient(str(server.make_url("")).rstrip("/"))
    erased_by_plugin: list[str] = []

    async def learned_phrasings(customer_id: str) -> int:
        erased_by_plugin.append(customer_id)
        return 3

    services.desk.erasers["learned_phrasings"] = learned_phrasings
    try:
        session_id, _card = await conversation_full_of_personal_numbers(emulator, services)
        assert [t for t in await services.desk.traces.recent(100) if t["session_id"] == session_id]

        asked = await emulator.send_user_message(ADMIN, "/forget ou_pii")
        told = await emulator.wait_for_message(lambda m: m.get("parent_id") == asked["message_id"], 10)
        assert "sessions 1" in told["text"] and "learned_phrasings 3" in told["text"], told["text"]
        assert erased_by_plugin == ["ou_pii"]
        assert await services.desk.sessions.find(session_id) is None
        assert await services.desk.sessions.history(session_id) == []
        assert await services.desk.sessions.sessions_of("ou_pii") == []
        assert [t for t in await services.desk.traces.recent(100) if t["session_id"] == session_id] == []
        assert session_id not in [s.session_id for s in await services.desk.sessions.pending()]

        # The REST twin, for a web customer with two sessions.
        for _ in range(2):
            assert (await api.post("/api/v1/chat", {"message": MESSAGES[0], "user_id": "u_web"}))[0] == 200
        status, body = await api.call("DELETE", "/api/v1/customers/u_web")
        assert status == 200 and body["sessions"] == 2 and body["erased"]["sessions"] == 2
        assert body["erased"]["traces"] >= 2 and body["erased"]["learned_phrasings"] == 3
        status, again = await api.call("DELETE", "/api/v1/customers/u_web")  # idempotent
        assert status == 200 and again["erased"]["sessions"] == 0

        async def broken(_customer_id: str) -> int:
            raise ConnectionError("store down")

        services.desk.erasers["learned_phrasings"] = broken
        status, body = await api.call("DELETE", "/api/v1/customers/u_web")
        assert status == 503 and body["error"]["details"]["failed"] == {"learned_phrasings": "ConnectionError: "
                                                                                             "store down"}
    finally:
        await api.close()
        await server.close()
