"""Conversations with an LLM configured (a scripted local OpenAI-compatible server): the model chooses among the
candidates when the policy is unsure, or says none fits; and one time budget bounds the whole turn when the model
hangs."""

from __future__ import annotations

import re
import shutil
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from tests.integration.conftest import bot_settings
from tests.openai_chat_server import ChatReply, OpenAIChatServer
from tests.scenarios.test_conversations import Customer

pytestmark = pytest.mark.integration

_ENTRY = re.compile(r'<entry id="(\d+)">\n(.*?)\n</entry>', re.DOTALL)


def choose_by(wanted: str):
    """A model that picks the candidate entry containing `wanted` (0: none fits)."""

    def respond(chat) -> ChatReply:
        if "You match a customer's question" in chat.system:
            picked = next((n for n, body in _ENTRY.findall(chat.last_user) if wanted and wanted in body), "0")
            return ChatReply(text=f'{{"choice": {picked}}}')
        if "classify the latest message" in chat.system:
            return ChatReply(text='{"intent": "faq", "negative": false}')
        if "verify answers" in chat.system:
            return ChatReply(text='{"grounded": true, "unsupported": []}')
        if "rewrite a customer's latest message" in chat.system:
            return ChatReply(text=chat.last_user.split("Latest message: ")[-1])
        return ChatReply(text="当天 16:00 前付款的订单当天发货，之后付款的次日发货。[1]")

    return respond


@pytest.fixture
async def llm_shop(emulator, tmp_path, redis_client, shop_knowledge):
    async with OpenAIChatServer() as llm:
        data = tmp_path / "data"
        shutil.copytree(shop_knowledge, data)
        settings = bot_settings(emulator.base_url, data, desk_working_hours="", llm_base_url=llm.base_url,
                                llm_api_key="test-key", llm_model="test-model", desk_turn_budget_s=2.0,
                                llm_timeout_s=30.0)
        services = Services.build(settings, redis=redis_client)
        server = TestServer(create_app(settings, services=services))
        await server.start_server()
        async with aiohttp.ClientSession() as http:
            yield Customer(http, str(server.make_url("")).rstrip("/")), llm, services
        await server.close()


async def test_the_model_chooses_among_the_candidates_when_the_policy_is_unsure(llm_shop):
    customer, llm, _ = llm_shop
    llm.responder = choose_by("下单后多久发货")
    reply = await customer.say("付款后多久发货？")
    chose = [r for r in llm.requests if "You match a customer's question" in r.system]
    assert chose, "the policy was sure: nothing to choose"
    assert "<entry id=" in chose[0].last_user and "付款后多久发货" in chose[0].last_user
    assert reply["data"]["decision"] == "answer" and "16:00" in reply["reply"]
    assert reply["data"]["answer_entry"]["label"] == "下单后多久发货？"


async def test_the_model_says_none_fits_and_the_customer_is_not_given_buttons(llm_shop):
    customer, llm, _ = llm_shop
    llm.responder = choose_by("")  # a model that finds none of the candidates answers it
    reply = await customer.say("发票怎么开")  # the policy is unsure among the invoice entries here
    assert [r for r in llm.requests if "You match a customer's question" in r.system]
    assert reply["data"]["decision"] == "no_answer" and reply["data"]["failed_attempts"] == 1
    assert not reply["data"].get("options")


async def test_a_hanging_model_costs_the_customer_one_turn_budget_not_every_timeout(llm_shop):
    customer, llm, _ = llm_shop
    llm.responder = lambda chat: ChatReply(text='{"intent": "faq"}', delay_s=20)  # every call hangs
    started = time.monotonic()
    reply = await customer.say("可以配送到香港吗？")
    elapsed = time.monotonic() - started
    assert elapsed < 4.0, elapsed  # DESK_TURN_BUDGET_S=2 (+ retrieval), not 30 s per call
    assert reply["data"]["decision"] in ("answer", "suggest") and "港澳台" in reply["reply"] + str(reply["data"])
