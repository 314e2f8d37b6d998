"""The agent group's member list shared by every process through Redis, so a Claim click is judged the same way
whichever front answers it. Each process keeps the list for a couple of seconds only (AgentDirectory's own
cache); Redis keeps it for a minute and loses it at once when Feishu says the group's members changed."""

from __future__ import annotations

import json

import redis.asyncio as aioredis
import structlog

from feishu import FeishuClient
from feishu.events import FeishuEvent

log = structlog.get_logger("bot.members")

_KEY = "larkdesk:agents:members:{}"
MEMBER_EVENTS = ("im.chat.member.user.added_v1", "im.chat.member.user.deleted_v1",
                 "im.chat.member.user.withdrawn_v1")


class SharedChatMembers:
    """Stands in for `FeishuClient.chat_members` in front of the Feishu call."""

    def __init__(self, feishu: FeishuClient, redis: aioredis.Redis, *, ttl_s: int = 60) -> None:
        self.feishu = feishu
        self.redis = redis
        self.ttl_s = ttl_s

    async def chat_members(self, chat_id: str) -> list[dict[str, str]]:
        try:
            cached = await self.redis.get(_KEY.format(chat_id))
        except Exception as exc:  # Redis down: ask Feishu, as a process alone would
            log.warning("members.cache_unavailable", error=str(exc))
            cached = None
        if cached:
            return json.loads(cached)
        members = await self.feishu.chat_members(chat_id)
        try:
            await self.redis.set(_KEY.format(chat_id), json.dumps(members, ensure_ascii=False), ex=self.ttl_s)
        except Exception as exc:
            log.warning("members.cache_not_stored", error=str(exc))
        return members

    async def forget(self, chat_id: str) -> None:
        await self.redis.delete(_KEY.format(chat_id))

    async def on_member_event(self, event: FeishuEvent) -> None:
        """Feishu says the members of a group changed: every process reads the list afresh."""
        chat_id = str(event.event.get("chat_id") or "")
        if chat_id:
            await self.forget(chat_id)
            log.info("members.changed", chat_id=chat_id, event_type=event.event_type)
