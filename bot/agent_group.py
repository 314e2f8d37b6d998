"""The desk in Feishu: the agent group (cards, threads, who counts as an agent) and customers' Feishu chats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence
from typing import Any

import structlog

from config.messages import t
from desk.cards import csat_card, session_card
from desk.sessions import Session, SessionStore
from feishu import FeishuClient
from observability.masking import mask_text

log = structlog.get_logger("bot.agent_group")


class AgentDirectory:
    """Agents are the members of the agent group (plus DESK_AGENT_IDS); the list is cached for a minute so
    50 simultaneous clicks cost one API call, not 50."""

    def __init__(self, feishu: FeishuClient, chat_id: str, extra_ids: Collection[str] = (), *, ttl_s: float = 60):
        self.feishu = feishu
        self.chat_id = chat_id
        self.extra_ids = frozenset(extra_ids)
        self.ttl_s = ttl_s
        self._names: dict[str, str] = {}
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    async def members(self) -> dict[str, str]:
        if time.monotonic() - self._loaded_at < self.ttl_s:
            return self._names
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self.ttl_s:
                try:
                    found = await self.feishu.chat_members(self.chat_id) if self.chat_id else []
                    self._names = {m["open_id"]: m.get("name", "") for m in found}
                    self._loaded_at = time.monotonic()
                except Exception as exc:  # keep the last known list rather than lock every agent out
                    log.error("agents.members_unavailable", chat_id=self.chat_id, error=str(exc))
                    self._loaded_at = time.monotonic() - self.ttl_s + 5  # retry in 5 s
        return self._names

    async def is_agent(self, open_id: str) -> bool:
        return bool(open_id) and (open_id in self.extra_ids or open_id in await self.members())

    async def name(self, open_id: str) -> str:
        return (await self.members()).get(open_id) or open_id


class FeishuAgentGroup:
    """AgentNotifier for the Feishu agent group: one card per escalation, the customer's words in its thread."""

    def __init__(self, feishu: FeishuClient, sessions: SessionStore, chat_id: str, language: str = "zh-CN") -> None:
        self.feishu = feishu
        self.sessions = sessions
        self.chat_id = chat_id
        self.language = language
        self._warned = False

    def _card(self, session: Session, history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return session_card(session, history, reveal_phone=self.sessions.reveal_phone)

    async def escalated(self, session: Session, history: Sequence[dict[str, Any]]) -> None:
        if not self.chat_id:
            if not self._warned:  # once: every escalation would repeat it
                log.warning("agent_group.not_configured", hint="set FEISHU_AGENT_CHAT_ID to post hand-over cards")
                self._warned = True
            return
        card = self._card(session, history)
        if session.card_message_id:  # an SLA re-alert: refresh the card and ping the thread
            await self.feishu.patch_card(session.card_message_id, card)
            await self.feishu.reply_text(
                session.card_message_id,
                f"⏰ 已等待 {int(session.waiting_s // 60)} 分钟，优先级升为 {session.priority}，请尽快认领。",
                reply_in_thread=True, uuid=f"alert-{session.session_id}-{session.alerts}"[:50], chat_id=self.chat_id)
            return
        sent = await self.feishu.send_card(self.chat_id, card,
                                           uuid=f"esc-{session.session_id}-{int(session.escalated_at)}"[:50])
        message_id = str(sent.get("message_id", ""))
        await self.sessions.link_card(session.session_id, message_id)
        session.card_message_id = message_id
        log.info("agent_group.card_posted", session_id=session.session_id, message_id=message_id)

    async def changed(self, session: Session, event: str) -> None:
        if not session.card_message_id:
            return
        history = await self.sessions.history(session.session_id)
        await self.feishu.patch_card(session.card_message_id, self._card(session, history))

    async def customer_message(self, session: Session, text: str) -> None:
        if not session.card_message_id:
            return  # the card is not posted yet; the SLA job posts it with the whole transcript
        # The thread is read by the whole agent group: personal numbers masked (DESK_REVEAL_PHONE: the card's button).
        await self.feishu.reply_text(session.card_message_id, f"客户：{mask_text(text)}", reply_in_thread=True,
                                     chat_id=self.chat_id)


class FeishuCustomers:
    """CustomerChannel for customers who write to the bot in Feishu."""

    def __init__(self, feishu: FeishuClient, language: str = "zh-CN") -> None:
        self.feishu = feishu
        self.language = language

    async def send_text(self, session: Session, text: str, *, dedup_key: str = "") -> bool:
        if not session.chat_id:
            return False
        await self.feishu.send_text(session.chat_id, text, uuid=f"d-{dedup_key}"[:50] if dedup_key else None)
        return True

    async def request_csat(self, session: Session) -> bool:
        if not session.chat_id:
            return False
        await self.feishu.send_card(session.chat_id, csat_card(session, title=t("csat_title", session.language)),
                                    uuid=f"csat-{session.session_id}-{int(session.resolved_at)}"[:50])
        return True
