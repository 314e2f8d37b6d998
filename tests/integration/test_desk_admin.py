"""Admins steer the bot with slash-commands; solutions go through review into knowledge; hours and flows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from tests.integration.conftest import ADMIN, AGENT_CHAT, AGENTS, bot_settings
from tests.integration.test_desk_scenarios import reply_to

pytestmark = pytest.mark.integration


async def command(emulator, text: str, who: str = ADMIN) -> dict:
    sent = await emulator.send_user_message(who, text)
    return await reply_to(emulator, sent, 30)


async def test_admin_commands_over_knowledge(desk_bot, emulator):
    doc = emulator.create_doc("运费说明", [{"type": "heading1", "text": "运费"},
                                         {"type": "text", "text": "订单满99元包邮，偏远地区除外。"}])
    synced = await command(emulator, f"/sync https://example.feishu.cn/docx/{doc['document_id']}")
    assert "已订阅 1 篇文档" in synced["text"]
    docs = await command(emulator, "/docs")
    assert f"feishu:{doc['document_id']}" in docs["text"] and "file:faq.jsonl" in docs["text"]
    asked = await command(emulator, "/ask 满多少包邮")
    assert "运费" in asked["text"] and "score" in asked["text"]
    cleared = await command(emulator, "/cache clear")
    assert "已清空缓存" in cleared["text"]
    reindexed = await command(emulator, "/reindex")
    assert "1 Feishu docs re-synced" in reindexed["text"] and "1 files restored" in reindexed["text"]
    rolled = await command(emulator, "/rollback file:faq.jsonl 1")
    assert "已回滚 file:faq.jsonl" in rolled["text"]
    unsynced = await command(emulator, f"/unsync {doc['document_id']}")
    assert "已取消订阅" in unsynced["text"]
    assert "feishu:" not in (await command(emulator, "/docs"))["text"]
    bad = await command(emulator, "/rollback only-one-arg")
    assert "usage: /rollback" in bad["text"]
    help_text = await command(emulator, "/help")
    assert "/review" in help_text["text"] and "/stats" in help_text["text"]


async def test_solution_review_then_answerable(desk_bot, emulator):
    desk = desk_bot.desk
    session = await desk.sessions.create("web", "cust")
    item = await desk.agents.save_solution(session.session_id, "积分可以兑换现金吗",
                                           "积分不能兑换现金，可在结算时抵扣订单金额，100积分抵1元。")
    review = await command(emulator, "/review")
    assert review["msg_type"] == "interactive" and "积分可以兑换现金吗" in str(review["content"])
    refused = await emulator.click_card(review["message_id"], "ou_agent_ann",
                                        {"action": "review", "decision": "approve", "review": item.review_id})
    assert refused["toast"]["type"] == "error"
    approved = await emulator.click_card(review["message_id"], ADMIN,
                                         {"action": "review", "decision": "approve", "review": item.review_id})
    assert approved["toast"]["type"] == "success"
    answer = await command(emulator, "积分能换成现金吗", who="ou_points_fan")
    assert "100积分抵1元" in answer["text"]
    stats = await command(emulator, "/stats")
    assert "answers" in stats["text"] and "CSAT" in stats["text"]
    other = await desk.agents.save_solution(session.session_id, "q", "a")
    rejected = await command(emulator, f"/review reject {other.review_id}")
    assert "rejected" in rejected["text"]
    assert await desk.reviews.pending() == []


@pytest.fixture
async def closed_desk(emulator, tmp_path, redis_client):
    today = datetime.now(ZoneInfo("Asia/Shanghai")).isoweekday()
    other_days = ",".join(str(d) for d in range(1, 8) if d != today)
    emulator.create_group(AGENT_CHAT, "客服组", members=list(AGENTS), names=AGENTS)
    settings = bot_settings(emulator.base_url, tmp_path, feishu_agent_chat_id=AGENT_CHAT,
                            desk_working_hours="09:00-18:00", desk_working_days=other_days, desk_flow_idle_s=0)
    services = Services.build(settings, redis=redis_client)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    emulator.set_delivery(event_callback_url=str(server.make_url("/feishu/events")))
    yield services
    await server.close()


async def test_outside_hours_customer_is_told_when_agents_are_back(closed_desk, emulator):
    told = await command(emulator, "转人工", who="ou_night_owl")
    assert "非工作时间" in told["text"] and "09:00" in told["text"]


async def test_an_abandoned_order_flow_is_reset_and_the_customer_told(closed_desk, emulator):
    asked = await command(emulator, "我的快递到哪了", who="ou_forgetful")
    assert "订单号" in asked["text"]
    later = await command(emulator, "你好", who="ou_forgetful")  # flow idle limit is 0 s here
    assert "已重置" in later["text"]
