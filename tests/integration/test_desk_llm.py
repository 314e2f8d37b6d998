"""The desk with an LLM: intent from the model, a streamed answer through a CardKit typewriter card, and the
plain-message fallback when CardKit fails."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from tests.integration.conftest import bot_settings
from tests.integration.test_knowledge import FAQ
from tests.openai_chat_server import ChatReply, OpenAIChatServer
from tests.polling import eventually

pytestmark = pytest.mark.integration

ANSWER = "收到商品后7天内可无理由退货，请在订单页面点击申请退货。[1]"


def scripted(chat) -> ChatReply:
    if "classify the latest message" in chat.system:
        return ChatReply(text='{"intent": "complaint" , "negative": true}' if "垃圾" in chat.last_user
                         else '{"intent": "faq", "negative": false}')
    if "verify answers" in chat.system:
        return ChatReply(text='{"grounded": true, "unsupported": []}')
    if "rewrite a customer's latest message" in chat.system:
        latest = chat.last_user.split("Latest message: ")[-1]
        return ChatReply(text="发票怎么开？" if "发票" in chat.last_user else latest)
    if chat.last_user.rstrip().endswith("客户问题：发票怎么开？"):
        return ChatReply(text="在订单页点击开具发票即可。[1]")
    return ChatReply(text=ANSWER, chunk_chars=3, chunk_delay_s=0.03)


async def start_llm_bot(emulator, tmp_path, redis_client, llm: OpenAIChatServer, **overrides):
    """The product wired to the emulator and a scripted OpenAI-compatible LLM, with the FAQ fixture loaded."""
    settings = bot_settings(emulator.base_url, tmp_path, desk_working_hours="", llm_base_url=llm.base_url,
                            llm_api_key="test-key", llm_model="test-model", **overrides)
    services = Services.build(settings, redis=redis_client)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    emulator.set_delivery(event_callback_url=str(server.make_url("/feishu/events")))
    faq = tmp_path / "faq.jsonl"
    faq.write_text(FAQ, encoding="utf-8")
    await services.knowledge.kb.ingest_file(faq)
    return services, server


@pytest.fixture
async def llm_bot(emulator, tmp_path, redis_client):
    async with OpenAIChatServer() as llm:
        llm.responder = scripted
        emulator.create_group("oc_agents", "客服组", members=["ou_agent_ann"], names={"ou_agent_ann": "Ann"})
        services, server = await start_llm_bot(emulator, tmp_path, redis_client, llm,
                                               feishu_agent_chat_id="oc_agents")
        yield services, llm
        await server.close()


async def test_streamed_answer_through_cardkit(llm_bot, emulator):
    _, llm = llm_bot
    sent = await emulator.send_user_message("ou_amy", "东西收到了想退货，怎么弄")
    reply = await emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 15)
    assert reply["msg_type"] == "interactive"
    await eventually(lambda: emulator.requests("/open-apis/cardkit/v1/cards/", method="PATCH"), 10)
    updates = emulator.requests("/open-apis/cardkit/v1/cards/", method="PUT")
    sequences = [r["body"]["sequence"] for r in updates]
    assert len(updates) >= 2 and sequences == sorted(set(sequences))  # strictly increasing
    settings_calls = emulator.requests("/open-apis/cardkit/v1/cards/", method="PATCH")
    assert settings_calls and settings_calls[-1]["body"]["sequence"] > sequences[-1]  # closed last
    stamps = [r["time"] for r in updates + settings_calls]
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(stamps))  # ≤ 10 updates/s
    card_id = updates[0]["path"].split("/")[5]
    view = emulator.card_view(card_id)
    assert "7天内可无理由退货" in str(view["card"]) and view["streaming_mode"] is False
    assert any("classify the latest message" in r.system for r in llm.requests)  # intent asked the model


async def test_cardkit_failure_falls_back_to_a_plain_message(llm_bot, emulator):
    emulator.add_fault("/open-apis/cardkit/v1/cards", "server_error", count=10, method="POST")
    sent = await emulator.send_user_message("ou_ben", "东西收到了想退货，怎么弄")
    reply = await emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 15)
    # No CardKit card: the answer goes out as an ordinary message (the answer card with feedback buttons).
    assert reply["msg_type"] in ("text", "interactive") and not reply.get("card_id")
    assert "7天内可无理由退货" in reply["text"]


async def test_model_intent_complaint_escalates_at_once(llm_bot, emulator):
    services, _ = llm_bot
    sent = await emulator.send_user_message("ou_cat", "你们的东西就是垃圾")
    told = await emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 15)
    assert "优先转接人工客服" in told["text"]
    session = await services.desk.sessions.for_customer("feishu", "ou_cat", chat_id=sent["chat_id"])
    assert session.state == "pending" and session.priority == "urgent" and session.escalate_reason == "complaint"


async def test_every_llm_call_of_a_turn_reaches_langfuse_with_session_and_prompt(emulator, tmp_path, redis_client):
    from tests.unit.test_langfuse import FakeLangfuse

    async with OpenAIChatServer() as llm, FakeLangfuse() as langfuse:
        llm.responder = scripted
        services, server = await start_llm_bot(
            emulator, tmp_path, redis_client, llm, feishu_stream_replies=False, langfuse_enabled=True,
            langfuse_public_key="pk-test", langfuse_secret_key="sk-test", langfuse_host=langfuse.host)
        sent = await emulator.send_user_message("ou_lf", "东西收到了想退货，怎么弄")
        await emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 15)
        session = await services.desk.sessions.for_customer("feishu", "ou_lf", chat_id=sent["chat_id"])
        await server.close()  # closing flushes what the tracer still holds
        generations = [e["body"] for e in langfuse.of_type("generation-create")]
        prompts = {g["metadata"]["prompt_name"] for g in generations}
        assert {"intent_classify", "rag_answer", "groundedness_check"} <= prompts
        traces = [e["body"] for e in langfuse.of_type("trace-create")]
        assert traces and all(t["sessionId"] == session.session_id for t in traces)
        assert requests_authorized(langfuse)


def requests_authorized(langfuse) -> bool:
    import base64

    expected = "Basic " + base64.b64encode(b"pk-test:sk-test").decode()
    return all(r["auth"] == expected for r in langfuse.requests)


async def test_follow_up_is_rewritten_by_the_model_from_the_history(llm_bot, emulator):
    services, llm = llm_bot
    first = await emulator.send_user_message("ou_dee", "我想开发票")
    await emulator.wait_for_message(lambda m: m["parent_id"] == first["message_id"], 15)
    second = await emulator.send_user_message("ou_dee", "那个怎么弄")
    reply = await emulator.wait_for_message(lambda m: m["parent_id"] == second["message_id"], 15)
    rewrites = [r for r in llm.requests if "rewrite a customer's latest message" in r.system]
    assert rewrites and "我想开发票" in rewrites[-1].last_user and "那个怎么弄" in rewrites[-1].last_user
    for _ in range(200):  # the streamed card is out before the turn (and its trace) is finished
        trace = (await services.desk.traces.recent(1))[0]
        if "rewritten" in trace["attributes"]:
            break
        await asyncio.sleep(0.02)
    assert trace["attributes"]["rewritten"] == "发票怎么开？"
    assert "rewrite_query" in [s["step"] for s in trace["steps"]]
    assert reply["msg_type"] == "interactive" or "发票" in reply["text"]
