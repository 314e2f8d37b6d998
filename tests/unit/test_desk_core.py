"""Desk building blocks: session state machine, intent rules, escalation policy, hours, order flow."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from desk.business import DemoOrderBackend
from desk.escalation import EscalationPolicy
from desk.hours import WorkingHours
from desk.intent import Intent, carry_entities, rule_intent
from desk.order_flow import FLOW, OrderFlow
from desk.sessions import SessionNotFound, SessionStore, TransitionRefused, bump_priority

pytestmark = pytest.mark.unit

HUMAN = ("转人工", "人工客服", "human")


async def test_session_lifecycle_and_illegal_transitions(redis_client):
    store = SessionStore(redis_client, history_max=3)
    session = await store.create("web", "cust-1")
    assert (await store.for_customer("web", "cust-1")).session_id == session.session_id
    with pytest.raises(TransitionRefused, match="nothing to claim: the session is bot"):
        await store.transition(session.session_id, "claimed", agent_id="ou_a")
    with pytest.raises(TransitionRefused, match="with the bot, not an agent"):
        await store.transition(session.session_id, "resolved")
    pending = await store.transition(session.session_id, "pending", priority="high", escalate_reason="complaint")
    assert pending.state == "pending" and [s.session_id for s in await store.pending()] == [session.session_id]
    claimed = await store.transition(session.session_id, "claimed", from_states=("pending",), agent_id="ou_a")
    assert claimed.agent_id == "ou_a" and await store.pending_count() == 0
    with pytest.raises(TransitionRefused, match="already claimed by ou_a"):
        await store.transition(session.session_id, "claimed", from_states=("pending",), agent_id="ou_b")
    with pytest.raises(TransitionRefused, match="handled by ou_a, not ou_b"):
        await store.transition(session.session_id, "resolved", held_by="ou_b")
    resolved = await store.transition(session.session_id, "resolved", held_by="ou_a", resolve_note="done")
    assert resolved.state == "resolved" and resolved.resolve_note == "done"
    with pytest.raises(SessionNotFound):
        await store.transition("s_missing", "pending")


async def test_concurrent_claims_have_one_winner(redis_client):
    store = SessionStore(redis_client)
    session = await store.create("web", "cust-2")
    await store.transition(session.session_id, "pending")

    async def claim(agent: str) -> bool:
        try:
            await store.transition(session.session_id, "claimed", from_states=("pending",), agent_id=agent)
            return True
        except TransitionRefused:
            return False

    wins = await asyncio.gather(*(claim(f"ou_{i}") for i in range(50)))
    assert sum(wins) == 1


async def test_pending_order_is_priority_then_longest_wait(redis_client):
    store = SessionStore(redis_client)
    ids = {}
    for name, priority, at in [("old_normal", "normal", 100.0), ("new_normal", "normal", 200.0),
                               ("urgent", "urgent", 300.0), ("info", "info", 50.0)]:
        session = await store.create("web", name)
        await store.transition(session.session_id, "pending", priority=priority, escalated_at=at)
        ids[session.session_id] = name
    assert [ids[s.session_id] for s in await store.pending()] == ["urgent", "old_normal", "new_normal", "info"]
    assert bump_priority("normal") == "high" and bump_priority("urgent") == "urgent"


async def test_history_is_bounded(redis_client):
    store = SessionStore(redis_client, history_max=3)
    session = await store.create("web", "cust-3")
    for i in range(5):
        await store.append(session.session_id, "user", f"m{i}")
    assert [h["content"] for h in await store.history(session.session_id)] == ["m2", "m3", "m4"]


@pytest.mark.parametrize(("text", "intent"), [
    ("转人工", "human_request"), ("I want a human", "human_request"), ("你们太差了，我要投诉", "complaint"),
    ("你好", "chitchat"), ("谢谢！", "chitchat"), ("我的快递到哪了", "business_query"),
    ("订单20241102002什么时候发货", "business_query"), ("订单什么时候发货", "faq"), ("付款后多久发货？", "faq"),
    ("20241102002", "business_query"), ("怎么申请退货", "faq"), ("发票怎么开", "faq"),
])
def test_rule_intent(text, intent):
    assert rule_intent(text, HUMAN).name == intent


def test_order_words_without_an_order_are_a_knowledge_question_first():
    # "付款后多久发货？" is answered from knowledge when it can be; only then is it taken for one's own order.
    assert rule_intent("付款后多久发货？", HUMAN).order_words
    assert not rule_intent("怎么申请退货", HUMAN).order_words
    assert rule_intent("我的订单 ORG-999999 找不到,需要紧急处理", HUMAN).urgent
    assert rule_intent("我的订单 ORG-999999 找不到,需要紧急处理", HUMAN).name == "business_query"


def test_strong_negative_and_entity_carry_over():
    assert rule_intent("再不退款我就打12315投诉", HUMAN).negative
    earlier = [{"role": "user", "content": "订单20241102002还没发货"}]
    assert carry_entities("什么时候到呢", earlier) == "订单20241102002 什么时候到呢"
    assert carry_entities("怎么申请开具增值税专用发票呢我想知道流程", []) == "怎么申请开具增值税专用发票呢我想知道流程"


def test_escalation_policy_priorities():
    policy = EscalationPolicy(max_failed_answers=3, vip_ids={"vip"})
    assert policy.before_answer(Intent("faq"), "c") is None
    assert policy.before_answer(Intent("human_request"), "c").priority == "normal"
    assert policy.before_answer(Intent("human_request"), "vip").priority == "high"
    assert policy.before_answer(Intent("complaint"), "c").priority == "high"
    assert policy.before_answer(Intent("complaint", negative=True), "c").priority == "urgent"
    assert policy.after_no_answer(Intent("faq"), "c", 2) is None
    assert policy.after_no_answer(Intent("faq"), "c", 3).reason == "failed_answers"
    assert EscalationPolicy(escalate_on_no_answer=True).after_no_answer(Intent("faq"), "c", 1).priority == "info"


def test_working_hours():
    zone = ZoneInfo("Asia/Shanghai")
    hours = WorkingHours.parse("09:00-18:00", "1,2,3,4,5")
    saturday_noon = datetime(2026, 11, 21, 12, 0, tzinfo=zone)
    assert not hours.is_open(saturday_noon)
    assert hours.next_open(saturday_noon) == datetime(2026, 11, 23, 9, 0, tzinfo=zone)
    assert hours.is_open(datetime(2026, 11, 23, 9, 0, tzinfo=zone))
    assert not hours.is_open(datetime(2026, 11, 23, 18, 0, tzinfo=zone))
    night = WorkingHours.parse("22:00-06:00")
    assert night.is_open(datetime(2026, 11, 23, 23, 0, tzinfo=zone))
    assert WorkingHours.parse("").is_open(saturday_noon)
    with pytest.raises(ValueError, match="09:00-21:00"):
        WorkingHours.parse("nine to five")


async def test_order_flow_asks_for_slots_then_looks_up(redis_client):
    store = SessionStore(redis_client)
    flow = OrderFlow(DemoOrderBackend(), idle_s=60)
    session = await store.create("web", "cust-4")
    step = await flow.step(session, "我的快递到哪了")
    assert step.active and "订单号" in step.reply and step.slots == {"problem": "我的快递到哪了", "asks": 1}
    session.flow, session.slots = FLOW, step.slots
    step = await flow.step(session, "99999999999")  # not a mobile number pattern, unknown order
    assert step.failed and step.active and "没有找到" in step.reply
    session.slots = step.slots
    step = await flow.step(session, "20241102002")
    assert step.resolved and not step.active and "20241102002" in step.reply
    session.flow_updated_at = 0
    assert flow.expired(session)
    assert (await flow.step(session, "取消")).active is False


async def test_an_order_flow_that_cannot_progress_fails_and_ends(redis_client):
    store = SessionStore(redis_client)
    flow = OrderFlow(DemoOrderBackend(), idle_s=60)
    session = await store.create("web", "cust-6")
    session.flow, session.slots = FLOW, {"problem": "到哪了", "asks": 2}
    step = await flow.step(session, "我不知道")  # asked twice already, still no number
    assert step.failed and not step.active and "订单号" in step.reply
    session.slots = {"problem": "到哪了"}
    step = await flow.step(session, "我的订单 ORG-999999 找不到", repeated=False)
    assert step.failed and step.active and "ORG-999999" in step.reply
    session.slots = step.slots
    step = await flow.step(session, "订单号 ORG-999998")
    assert step.failed and not step.active  # the second unknown order ends the flow
    session.flow, session.slots = FLOW, {"problem": "到哪了"}
    assert (await flow.step(session, "到哪了", repeated=True)).failed  # the same message again
    fresh = await store.create("web", "cust-7")
    step = await flow.step(fresh, "什么时候到", known_order_id="20241102002")  # the conversation's order
    assert step.resolved and "20241102002" in step.reply


async def test_a_new_question_instead_of_the_order_number_leaves_the_flow(redis_client):
    store = SessionStore(redis_client)
    flow = OrderFlow(DemoOrderBackend(), idle_s=60)
    session = await store.create("web", "cust-5")
    session.flow, session.slots = FLOW, {"problem": "我的快递到哪了"}
    assert flow.left_behind(session, "发票怎么开")
    assert not flow.left_behind(session, "20241102002")
    session.slots = {"order_id": "20241102002"}
    assert not flow.left_behind(session, "快递一直没动")  # the problem slot takes any text


@pytest.mark.parametrize("text", ["火星上有快递吗", "怎么修改订单地址", "下单后可以改地址吗"])
def test_general_order_questions_are_knowledge_questions(text):
    assert rule_intent(text, HUMAN).name == "faq"
