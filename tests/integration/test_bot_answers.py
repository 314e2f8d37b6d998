"""The bot answers from knowledge through the emulator: answers, hand-over text, did-you-mean buttons."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from rag.policy import AnswerPolicy
from tests.card_buttons import buttons
from tests.integration.conftest import bot_settings
from tests.integration.test_knowledge import FAQ

pytestmark = pytest.mark.integration


@pytest.fixture
async def bot(emulator, tmp_path, redis_client):
    settings = bot_settings(emulator.base_url, tmp_path)
    services = Services.build(settings, redis=redis_client)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    emulator.set_delivery(event_callback_url=str(server.make_url("/feishu/events")))
    faq = tmp_path / "faq.jsonl"
    faq.write_text(FAQ, encoding="utf-8")
    await services.knowledge.kb.ingest_file(faq)
    yield services
    await server.close()


async def reply_to(emulator, sent: dict) -> dict:
    return await emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 15)


async def test_customer_gets_the_knowledge_answer(bot, emulator):
    sent = await emulator.send_user_message("ou_amy", "东西收到了想退货，怎么弄")
    reply = await reply_to(emulator, sent)
    assert "7天内可无理由退货" in reply["text"]


async def test_question_outside_the_knowledge_gets_an_honest_handover(bot, emulator):
    sent = await emulator.send_user_message("ou_ben", "你们公司明年会上市吗")
    reply = await reply_to(emulator, sent)
    assert "人工客服" in reply["text"]


async def test_did_you_mean_card_and_a_click_answers_the_chosen_question(bot, emulator):
    # Never confident enough to answer: whatever is plausible becomes a button.
    bot.knowledge.answerer.policy = AnswerPolicy(answer_probability={"faq": 1.01, "passage": 1.01},
                                                 suggest_probability=0.0)
    sent = await emulator.send_user_message("ou_cat", "退货")
    card_message = await reply_to(emulator, sent)
    assert card_message["msg_type"] == "interactive"
    offered = buttons(card_message)
    assert "怎么申请退货？" in offered and offered["转人工"] == {"action": "human"}  # always a way to a human
    bot.knowledge.answerer.policy = AnswerPolicy()
    clicked = await emulator.click_card(card_message["message_id"], "ou_cat", offered["怎么申请退货？"])
    assert clicked["status"] == 200 and clicked["response"]["toast"]["content"] == "怎么申请退货？"
    answer = await reply_to(emulator, {"message_id": card_message["message_id"]})
    assert "7天内可无理由退货" in answer["text"]
    assert {"👍 已解决", "👎 没有帮助"} <= set(buttons(answer))  # an answer card takes feedback
    # The click taught the bot: the customer's wording is now a learned phrasing of the chosen entry.
    [learned] = await bot.knowledge.learning.list("active")
    assert learned.wording == "退货" and learned.entry.label == "怎么申请退货？"
    assert learned.signals[0]["kind"] == "click"


async def test_vector_store_down_hands_the_customer_to_a_human_at_once(bot, emulator):
    from rag.milvus import StoreUnavailable

    calls = []

    async def down(*_a, **_kw):
        calls.append(1)
        raise StoreUnavailable("vector store at test is unavailable")

    bot.knowledge.retriever.search = down
    sent = await emulator.send_user_message("ou_dan", "发票怎么开")
    reply = await emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], 20)
    assert "知识库暂时无法查询" in reply["text"] and "人工客服" in reply["text"]
    assert len(calls) == 1  # no retry loop while the customer waits
    session = await bot.desk.sessions.for_customer("feishu", "ou_dan", chat_id=sent["chat_id"])
    assert session.state == "pending" and session.escalate_reason == "knowledge_unavailable"
    await emulator.wait_idle()
    assert await bot.queue.dead_letters() == []
