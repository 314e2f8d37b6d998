"""Whole desk stories through the Feishu emulator: customers, the agent group, admins."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.startup import sla_watcher
from tests.integration.conftest import ADMIN, AGENT_CHAT

pytestmark = pytest.mark.integration


async def reply_to(emulator, sent: dict, wait_s: float = 15) -> dict:
    return await emulator.wait_for_message(lambda m: m["parent_id"] == sent["message_id"], wait_s)


def cards_in(emulator, chat_id: str) -> list[dict]:
    return [m for m in emulator.bot_messages(chat_id) if m["msg_type"] == "interactive" and not m.get("parent_id")]


def card_text(message: dict) -> str:
    return json.dumps(message["content"], ensure_ascii=False)


async def escalation_card(emulator) -> dict:
    return await emulator.wait_for_message(
        lambda m: m["chat_id"] == AGENT_CHAT and m["msg_type"] == "interactive" and not m.get("parent_id"), 15)


async def test_customer_gets_a_knowledge_answer(desk_bot, emulator):
    sent = await emulator.send_user_message("ou_amy", "东西收到了想退货，怎么弄")
    assert "7天内可无理由退货" in (await reply_to(emulator, sent))["text"]
    session = await desk_bot.desk.sessions.for_customer("feishu", "ou_amy", chat_id=sent["chat_id"])
    assert session.state == "bot" and session.intent == "faq"
    assert [h["role"] for h in await desk_bot.desk.sessions.history(session.session_id)] == ["user", "assistant"]
    trace = (await desk_bot.desk.traces.recent(1))[0]
    assert trace["session_id"] == session.session_id and trace["status"] == "ok"
    assert [s["step"] for s in trace["steps"]][:3] == ["recognize_intent", "rewrite_query", "retrieve"]


async def test_human_request_claim_relay_resolve_csat(desk_bot, emulator):
    desk = desk_bot.desk
    asked = await emulator.send_user_message("ou_cathy", "我的退款一直没到账，转人工")
    told = await reply_to(emulator, asked)
    assert "人工客服" in told["text"]
    card = await escalation_card(emulator)
    assert "客户要求人工" in card_text(card) and "认领" in card_text(card)
    session = await desk.sessions.by_card(card["message_id"])
    assert session is not None and session.state == "pending" and session.escalate_reason == "human_request"

    # While pending, the bot stays quiet and the customer's words go to the card's thread.
    more = await emulator.send_user_message("ou_cathy", "订单是上周下的")
    relayed = await emulator.wait_for_message(
        lambda m: m["chat_id"] == AGENT_CHAT and m.get("root_id") == card["message_id"] and "上周" in m["text"], 10)
    assert relayed["text"].startswith("客户：")
    await emulator.wait_idle()
    assert not [m for m in emulator.bot_messages(more["chat_id"]) if m.get("parent_id") == more["message_id"]]

    clicked = await emulator.click_card(card["message_id"], "ou_agent_ann", {"action": "claim",
                                                                           "session": session.session_id})
    assert clicked["status"] == 200 and clicked["toast"]["type"] == "success"
    assert clicked["applied"] and "Ann" not in card_text(emulator.message(card["message_id"]))  # <at> by id
    assert "ou_agent_ann" in card_text(emulator.message(card["message_id"]))
    joined = await emulator.wait_for_message(lambda m: m["chat_id"] == more["chat_id"] and "已接入" in m["text"], 10)
    assert "Ann" in joined["text"]

    # Agent → customer through the thread; customer → agent into the thread.
    await emulator.send_user_message("ou_agent_ann", "您好，我帮您查一下退款", chat_type="group", chat_id=AGENT_CHAT,
                                     root_id=card["message_id"])
    await emulator.wait_for_message(lambda m: m["chat_id"] == more["chat_id"] and "我帮您查一下" in m["text"], 10)
    await emulator.send_user_message("ou_cathy", "好的谢谢")
    await emulator.wait_for_message(
        lambda m: m["chat_id"] == AGENT_CHAT and m.get("root_id") == card["message_id"] and "好的谢谢" in m["text"], 10)

    resolved = await emulator.click_card(card["message_id"], "ou_agent_ann",
                                         {"action": "resolve", "session": session.session_id},
                                         form_value={"note": "已联系财务加急退款"})
    assert resolved["toast"]["type"] == "success" and "已解决" in card_text(emulator.message(card["message_id"]))
    csat = await emulator.wait_for_message(
        lambda m: m["chat_id"] == more["chat_id"] and m["msg_type"] == "interactive", 10)
    rated = await emulator.click_card(csat["message_id"], "ou_cathy",
                                      {"action": "csat", "session": session.session_id, "score": 5},
                                      form_value={"comment": "很快"})
    assert rated["status"] == 200 and rated["applied"]
    stored = await desk.sessions.get(session.session_id)
    assert stored.state == "resolved" and stored.csat_score == 5 and stored.csat_comment == "很快"
    assert (await desk.stats.snapshot())["csat_average"] == 5
    roles = [h["role"] for h in await desk.sessions.history(session.session_id)]
    assert "agent" in roles

    # "Save as solution" from the resolved card goes to the review queue.
    saved = await emulator.click_card(card["message_id"], "ou_agent_ann",
                                      {"action": "solution", "session": session.session_id},
                                      form_value={"question": "退款没到账怎么办", "solution": "联系财务加急处理"})
    assert "rv_" in saved["toast"]["content"]
    assert [r.question for r in await desk.reviews.pending()] == ["退款没到账怎么办"]


async def test_three_failed_answers_escalate(desk_bot, emulator):
    questions = ["你们公司明年会上市吗", "火星上能送货吗", "你们老板喜欢什么颜色"]
    replies = []
    for q in questions:
        sent = await emulator.send_user_message("ou_dave", q)
        replies.append((await reply_to(emulator, sent))["text"])
    assert "换个说法" in replies[0] and "换个说法" in replies[1]
    assert "人工客服" in replies[2]
    card = await escalation_card(emulator)
    assert "多次未能解答" in card_text(card)
    session = await desk_bot.desk.sessions.by_card(card["message_id"])
    assert session.failed_attempts == 3 and session.state == "pending"


async def test_order_question_fills_slots_and_calls_the_backend(desk_bot, emulator):
    calls = []
    backend = desk_bot.desk.business
    original = backend.lookup_order

    async def spy(order_id):
        calls.append(order_id)
        return await original(order_id)

    backend.lookup_order = spy
    first = await emulator.send_user_message("ou_erin", "我的快递到哪了")
    assert "订单号" in (await reply_to(emulator, first))["text"]
    second = await emulator.send_user_message("ou_erin", "订单号是20241102002")
    answer = (await reply_to(emulator, second))["text"]
    assert calls == ["20241102002"]
    assert "20241102002" in answer
    session = await desk_bot.desk.sessions.for_customer("feishu", "ou_erin", chat_id=first["chat_id"])
    assert session.flow == "" and session.failed_attempts == 0


async def test_only_agents_may_claim(desk_bot, emulator):
    asked = await emulator.send_user_message("ou_fay", "人工客服")
    await reply_to(emulator, asked)
    card = await escalation_card(emulator)
    session = await desk_bot.desk.sessions.by_card(card["message_id"])
    clicked = await emulator.click_card(card["message_id"], "ou_stranger", {"action": "claim",
                                                                           "session": session.session_id})
    assert clicked["toast"]["type"] == "error"
    assert (await desk_bot.desk.sessions.get(session.session_id)).state == "pending"


async def claim_race(emulator, services, clickers: list[str]) -> list[dict]:
    asked = await emulator.send_user_message(f"ou_race_{len(clickers)}_{id(clickers)}", "转人工")
    await reply_to(emulator, asked)
    card = await escalation_card(emulator)
    session = await services.desk.sessions.by_card(card["message_id"])
    value = {"action": "claim", "session": session.session_id}
    results = await asyncio.gather(*(emulator.click_card(card["message_id"], who, value) for who in clickers))
    return results


async def test_fifty_agents_click_claim_at_once(desk_bot, emulator):
    clickers = [f"ou_agent_{i:02d}" for i in range(50)]
    emulator.add_chat_members(AGENT_CHAT, clickers, names=[f"Agent {i}" for i in range(50)])
    results = await claim_race(emulator, desk_bot, clickers)
    assert all(r["status"] == 200 for r in results)
    winners = [r for r in results if r["toast"]["type"] == "success"]
    losers = [r for r in results if r["toast"]["type"] == "warning"]
    assert len(winners) == 1 and len(losers) == 49
    winner = next(c for c, r in zip(clickers, results, strict=True) if r in winners)
    assert all(f"Agent {int(winner.removeprefix('ou_agent_'))}" in r["toast"]["content"] for r in losers)
    session = await desk_bot.desk.sessions.by_card((await escalation_card(emulator))["message_id"])
    assert session.state == "claimed" and session.agent_id == winner


@pytest.mark.slow
async def test_claim_race_has_exactly_one_winner_a_hundred_times(desk_bot, emulator):
    clickers = [f"ou_agent_{i:02d}" for i in range(50)]
    emulator.add_chat_members(AGENT_CHAT, clickers)
    for run in range(100):
        asked = await emulator.send_user_message(f"ou_racer_{run}", "转人工")
        await reply_to(emulator, asked)
        card = await emulator.wait_for_message(
            lambda m, who=f"ou_racer_{run}（": m["chat_id"] == AGENT_CHAT and m["msg_type"] == "interactive"
            and not m.get("parent_id") and who in card_text(m), 15)
        session = await desk_bot.desk.sessions.by_card(card["message_id"])
        value = {"action": "claim", "session": session.session_id}
        results = await asyncio.gather(*(emulator.click_card(card["message_id"], who, value) for who in clickers))
        kinds = [r["toast"]["type"] for r in results]
        assert kinds.count("success") == 1 and kinds.count("warning") == 49, f"run {run}: {kinds}"
        assert (await desk_bot.desk.sessions.get(session.session_id)).state == "claimed"


async def test_non_admin_reindex_is_refused_and_admin_gets_status(desk_bot, emulator):
    refused = await emulator.send_user_message("ou_gus", "/reindex")
    assert "仅限管理员" in (await reply_to(emulator, refused))["text"]
    status = await emulator.send_user_message(ADMIN, "/status")
    text = (await reply_to(emulator, status))["text"]
    assert "knowledge" in text and "pending sessions: 0" in text and "agents: 2" in text
    asked = await emulator.send_user_message(ADMIN, "/ask 怎么申请退货")
    assert "score" in (await reply_to(emulator, asked))["text"]


async def test_sla_realert_bumps_priority(desk_bot, emulator):
    asked = await emulator.send_user_message("ou_hal", "转人工")
    await reply_to(emulator, asked)
    card = await escalation_card(emulator)
    session = await desk_bot.desk.sessions.by_card(card["message_id"])
    assert session.priority == "normal"
    watcher = sla_watcher(desk_bot)
    assert await watcher.run_once(now=session.escalated_at + 1) == 0  # SLA 3 s not passed yet
    assert await watcher.run_once(now=session.escalated_at + 5) == 1
    assert await watcher.run_once(now=session.escalated_at + 5) == 0  # one alert per period
    bumped = await desk_bot.desk.sessions.get(session.session_id)
    assert bumped.priority == "high" and bumped.alerts == 1
    alert = await emulator.wait_for_message(
        lambda m: m["chat_id"] == AGENT_CHAT and m.get("root_id") == card["message_id"] and "⏰" in m["text"], 10)
    assert "high" in alert["text"]
    assert "🟠" in card_text(emulator.message(card["message_id"]))


async def test_welcome_and_menu_human(desk_bot, emulator):
    entered = await emulator.enter_p2p_chat("ou_ivy")
    await emulator.wait_for_message(lambda m: m["chat_id"] == entered["chat_id"] and "欢迎" in m["text"], 10)
    await emulator.send_menu_event("ou_ivy", "contact_human")
    await emulator.wait_for_message(lambda m: m["chat_id"] == entered["chat_id"] and "人工客服" in m["text"], 10)
    card = await escalation_card(emulator)
    assert "菜单转人工" in card_text(card)
    assert await desk_bot.desk.sessions.pending_count() == 1
