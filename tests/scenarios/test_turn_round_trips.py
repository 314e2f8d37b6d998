"""What a turn costs in Redis round trips: its writes (session fields, desk stats, the conversation context) ride
on the pipeline that appends the reply (desk/turn_writes.py), and the context is read with the customer's
message. Each round trip is Python work on the event loop, so a cached turn's throughput follows their number."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.connection import AbstractConnection

from tests.scenarios.conftest import Shop

pytestmark = pytest.mark.integration


class RoundTrips:
    """Round trips to Redis made by the task that called `watch` (background loops of the product not counted)."""

    def __init__(self) -> None:
        self.count, self.task = 0, None

    def watch(self) -> None:
        self.task = asyncio.current_task()


@pytest.fixture
def round_trips(monkeypatch) -> RoundTrips:
    counter = RoundTrips()
    original = AbstractConnection.send_packed_command

    async def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        if counter.task is not None and asyncio.current_task() is counter.task and not _housekeeping(command):
            counter.count += 1
        return await original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return counter


def _housekeeping(command) -> bool:  # type: ignore[no-untyped-def]
    """A new pooled connection's handshake or an idle one's health check: the pool's doing, not the turn's."""
    packed = command.encode() if isinstance(command, str) else command if isinstance(command, bytes) \
        else b"".join(command)
    parts = packed.split(b"\r\n", 3)
    return len(parts) > 2 and parts[2].upper() in (b"PING", b"HELLO", b"CLIENT", b"AUTH", b"SELECT")


async def _turn_cost(shop: Shop, round_trips: RoundTrips, session, text: str) -> tuple[str, int]:
    before = round_trips.count
    result = await shop.services.desk.conversation.turn(session, text)
    return result.decision, round_trips.count - before


async def test_a_cached_turn_reads_and_writes_in_four_round_trips(shop: Shop, round_trips):
    round_trips.watch()
    desk = shop.services.desk
    # A did-you-mean (a failed answer: the counter, the stats and the offer are written), a follow-up read with its
    # topic (a second reading), then a direct answer. A first customer fills the answer cache (and the connection
    # pool and the server's script cache): the second one's turns are what a busy desk's turns cost.
    turns = ("退货流程是什么?", "需要提供什么凭证?", "可以配送到香港吗？")
    for customer in ("rt-first", "rt-second"):
        session = await desk.sessions.create("web", customer)
        costs = []
        for text in turns:
            session = await desk.sessions.get(session.session_id)
            costs.append(await _turn_cost(shop, round_trips, session, text))
    assert [d for d, _ in costs] == ["suggest", "suggest", "answer"]
    # The message with the context, the answer cache, the reply with every write, the trace; the follow-up looks
    # up the cache for both readings.
    assert [n for _, n in costs] == [4, 5, 4], costs
    stored = await desk.sessions.get(session.session_id)
    assert stored.failed_attempts == 0 and stored.intent == "faq"  # written with the replies
    ctx = await desk.conversation.contexts.load(session.session_id)
    assert ctx.answered["entry"] and "香港" in ctx.topic  # and the last turn's context with them
    assert (await desk.stats.snapshot())["answers"]["suggest"] == 4


async def test_a_hand_over_lands_the_turns_writes_before_its_transition(shop: Shop, round_trips):
    round_trips.watch()
    desk = shop.services.desk
    questions = ("你们的股票代码是多少", "董事长是谁", "你们有多少员工")
    for customer in ("rt-first", "rt-second"):  # the first fills the caches
        session = await desk.sessions.create("web", customer)
        costs = []
        for text in questions:
            session = await desk.sessions.get(session.session_id)
            costs.append(await _turn_cost(shop, round_trips, session, text))
    assert costs[-1][0] == "handover"
    # The message with the context, the answer cache, the history with the turn's writes, the transition, the
    # reply with the count of hand-overs, the card posted in the agent group linked to the session, the trace.
    assert costs[-1][1] == 7, costs
    stored = await desk.sessions.get(session.session_id)
    assert stored.state == "pending" and stored.failed_attempts == 3  # written before the transition
    assert (await desk.stats.snapshot())["escalations"] == 2
    ctx = await desk.conversation.contexts.load(session.session_id)
    assert "你们有多少员工" in ctx.unanswered  # what an agent's pick will teach
