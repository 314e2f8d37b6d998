"""Several processes, one truth: limits, leases, subscriptions and the answer cache shared through Redis."""

from __future__ import annotations

import asyncio
import time

from bot.leases import once_per_period
from feishu.ratelimit import SharedRateLimiter
from rag.cache import AnswerCache, KnowledgeVersion
from sync.live import Subscription, SubscriptionStore


async def test_the_per_app_limit_holds_across_processes(redis_client):
    """Two processes' limiters share one window: 14 calls at 5 per 0.5 s take three windows, not two."""
    a = SharedRateLimiter(redis_client, "app", 5, window_s=0.5)
    b = SharedRateLimiter(redis_client, "app", 5, window_s=0.5)
    stamps: list[float] = []
    started = time.monotonic()

    async def call(limiter: SharedRateLimiter) -> None:
        await limiter.wait("app")
        stamps.append(time.monotonic() - started)

    await asyncio.gather(*(call(a if i % 2 else b) for i in range(14)))
    stamps.sort()
    for i, stamp in enumerate(stamps):  # any 5 consecutive calls apart, the 6th is a window later
        if i >= 5:
            assert stamp - stamps[i - 5] >= 0.45, stamps
    assert stamps[-1] >= 0.9


async def test_a_hold_from_the_server_holds_every_process(redis_client):
    a = SharedRateLimiter(redis_client, "chat", 5)
    b = SharedRateLimiter(redis_client, "chat", 5)
    a.push_back("oc_1", 0.4)
    await asyncio.sleep(0.05)  # the hold is stored in the background
    started = time.monotonic()
    await b.wait("oc_1")
    assert time.monotonic() - started >= 0.3


async def test_a_leased_job_runs_once_per_period_whatever_the_number_of_processes(redis_client):
    runs: list[str] = []

    def job(name: str):
        async def run() -> None:
            runs.append(name)
        return run

    processes = [once_per_period(redis_client, "desk.sla", 0.5, job(f"p{i}")) for i in range(3)]
    for _period in range(2):
        await asyncio.gather(*(p() for p in processes))
        await asyncio.gather(*(p() for p in processes))  # a second tick in the same period
        await asyncio.sleep(0.5)
    assert len(runs) == 2


async def test_subscriptions_are_shared_by_every_process(redis_client, tmp_path):
    first = SubscriptionStore(tmp_path / "a", redis_client)
    second = SubscriptionStore(tmp_path / "b", redis_client)
    await first.put(Subscription("doxcnShared", title="手册", revision_id=3))
    await second.load()
    assert second.get("doxcnShared").revision_id == 3
    await second.remove("doxcnShared")
    await first.load()
    assert first.get("doxcnShared") is None


async def test_an_answer_computed_while_the_knowledge_changed_is_not_cached(redis_client):
    version = KnowledgeVersion(redis_client)
    cache = AnswerCache(redis_client, version)
    assert await cache.get("怎么退货") is None  # looked up at version 0
    await version.bump()  # another process ingested meanwhile
    await cache.put("怎么退货", {"text": "old answer"})
    assert await cache.get("怎么退货") is None
    await cache.put("怎么退货", {"text": "new answer"})  # looked up at version 1, stored under it
    assert await cache.get("怎么退货") == {"text": "new answer"}


class CountingFeishu:
    def __init__(self, members: list[str]) -> None:
        self.members = members
        self.calls = 0

    async def chat_members(self, chat_id: str) -> list[dict[str, str]]:
        self.calls += 1
        return [{"open_id": m, "name": m} for m in self.members]


async def test_every_process_judges_agents_by_one_member_list(redis_client):
    from bot.agent_group import AgentDirectory
    from bot.members import SharedChatMembers
    from feishu.events import FeishuEvent

    feishu = CountingFeishu(["ou_ann"])
    a = AgentDirectory(SharedChatMembers(feishu, redis_client), "oc_agents", ttl_s=0.2)
    b = AgentDirectory(SharedChatMembers(feishu, redis_client), "oc_agents", ttl_s=0.2)
    assert await a.is_agent("ou_ann") and await b.is_agent("ou_ann")
    assert feishu.calls == 1  # the second process read the list the first one fetched
    feishu.members = ["ou_bob"]  # Ann leaves, Bob joins; Feishu tells one process
    await SharedChatMembers(feishu, redis_client).on_member_event(
        FeishuEvent("e1", "im.chat.member.user.deleted_v1", {"event": {"chat_id": "oc_agents"}}))
    await asyncio.sleep(0.25)
    assert not await a.is_agent("ou_ann") and await b.is_agent("ou_bob")
