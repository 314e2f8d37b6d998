"""Agents working in Feishu: card clicks (claim, resolve, return, suggest, save solution, review), the
customer's rating, and agents' replies in a card's thread relayed to the customer.

A click answers Feishu inside its 3 s from Redis alone (one compare-and-set); what takes longer — telling
the customer, asking knowledge for suggestions — goes through the durable queue as a follow-up event.
"""

from __future__ import annotations

from typing import Any

import structlog

from bot.agent_group import AgentDirectory
from bot.intake import toast
from bot.queue import EventQueue
from config.messages import t
from desk.assist_cards import suggestion_thread_card
from desk.cards import csat_done_card, session_card
from desk.privacy import audit
from desk.reviews import ReviewNotFound
from desk.service import Desk
from desk.sessions import Session, SessionNotFound, TransitionRefused
from feishu import FeishuClient
from feishu.events import FeishuEvent
from feishu.message_text import IncomingMessage
from observability.masking import mask_text

log = structlog.get_logger("bot.desk")

FOLLOWUP_EVENT = "larkdesk.desk_followup_v1"  # internal: work a click started, done after the click's answer


def _operator(event: FeishuEvent) -> str:
    return str((event.event.get("operator") or {}).get("open_id", ""))


def _form(event: FeishuEvent) -> dict[str, Any]:
    form = (event.event.get("action") or {}).get("form_value")
    return form if isinstance(form, dict) else {}


def _card_response(card: dict[str, Any], kind: str = "", content: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"card": {"type": "raw", "data": card}}
    if kind:
        out.update(toast(kind, content))
    return out


class DeskCardActions:
    def __init__(self, desk: Desk, directory: AgentDirectory, queue: EventQueue, *, admins: frozenset[str],
                 language: str = "zh-CN") -> None:
        self.desk = desk
        self.directory = directory
        self.queue = queue
        self.admins = admins
        self.language = language

    def register(self, router: Any) -> None:
        router.add("claim", self.claim)
        router.add("resolve", self.resolve)
        router.add("return", self.return_to_bot)
        router.add("suggest", self.suggest)
        router.add("solution", self.solution)
        router.add("csat", self.csat)
        router.add("review", self.review)
        router.add("reveal_phone", self.reveal_phone)
        router.add("use_entry", self.use_entry)

    async def _followup(self, event: FeishuEvent, kind: str, session_id: str, **extra: Any) -> None:
        event_id = f"fu-{kind}-{event.event_id}"[:64]
        payload = {"header": {"event_id": event_id, "event_type": FOLLOWUP_EVENT},
                   "event": {"kind": kind, "session": session_id, **extra}}
        await self.queue.enqueue(FeishuEvent(event_id, FOLLOWUP_EVENT, payload))

    async def _agent_session(self, event: FeishuEvent, value: dict[str, Any]) -> tuple[str, Session] | dict:
        """The clicking agent and the session, or the toast that refuses the click."""
        operator = _operator(event)
        if not await self.directory.is_agent(operator):
            log.warning("desk.click_refused_not_agent", operator=operator)
            return toast("error", "仅客服组成员可以操作 / Only members of the agent group can do this")
        session = await self.desk.sessions.find(str(value.get("session", "")))
        if session is None:
            return toast("warning", "会话已过期 / This session has expired")
        return operator, session

    async def _card_of(self, session: Session) -> dict[str, Any]:
        return session_card(session, await self.desk.sessions.history(session.session_id),
                            reveal_phone=self.desk.sessions.reveal_phone)

    async def claim(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        found = await self._agent_session(event, value)
        if isinstance(found, dict):
            return found
        operator, session = found
        result = await self.desk.agents.claim(session.session_id, operator, await self.directory.name(operator),
                                              notify=False)
        if not result.won:
            # Only a toast: the winner's answer carries the new card, which Feishu shows to everyone
            # (update_multi), so 49 losers cost one Redis round trip each.
            holder = result.holder_name or result.holder_id
            message = (f"已被 {holder} 认领 / Already claimed by {holder}" if result.session.state == "claimed"
                       else f"无法认领：{result.reason}")
            return toast("warning", message)
        await self._followup(event, "claimed", session.session_id)
        return _card_response(await self._card_of(result.session), "success",
                              "认领成功，请在话题中回复客户 / Claimed: reply in the thread")

    async def resolve(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        found = await self._agent_session(event, value)
        if isinstance(found, dict):
            return found
        operator, session = found
        note = str(_form(event).get("note") or "")
        try:
            session = await self.desk.agents.resolve(session.session_id, note, agent_id=operator, notify=False)
        except TransitionRefused as exc:
            current = exc.session or await self.desk.sessions.get(session.session_id)
            return _card_response(await self._card_of(current), "warning", f"无法解决：{exc.reason}")
        await self._followup(event, "resolved", session.session_id)
        return _card_response(await self._card_of(session), "success", "已解决 / Resolved")

    async def return_to_bot(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        found = await self._agent_session(event, value)
        if isinstance(found, dict):
            return found
        operator, session = found
        try:
            session = await self.desk.agents.return_to_bot(session.session_id, agent_id=operator, notify=False)
        except TransitionRefused as exc:
            return toast("warning", f"无法转回：{exc.reason}")
        await self._followup(event, "returned", session.session_id)
        return _card_response(await self._card_of(session), "success", "已转回机器人 / Returned to the bot")

    async def suggest(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        found = await self._agent_session(event, value)
        if isinstance(found, dict):
            return found
        _, session = found
        await self._followup(event, "suggest", session.session_id)
        return toast("info", "正在检索推荐答案… / Looking up suggestions…")

    async def use_entry(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        """"Send this answer" on a suggested entry: the customer gets it from the agent, and the wordings the
        bot could not answer become learned phrasings of that entry (queued: the click is answered at once)."""
        found = await self._agent_session(event, value)
        if isinstance(found, dict):
            return found
        operator, session = found
        if session.state != "claimed" or session.agent_id != operator:
            return toast("warning", "请先认领该会话 / Claim the session first")
        option = {k: str(value.get(k) or "") for k in ("key", "source_id", "block_id", "chunk_id", "label",
                                                         "knowledge_type")}
        await self._followup(event, "use_entry", session.session_id, option=option, agent=operator)
        return toast("success", "已发送给客户，并记住了这个问法 / Sent, and the wording is learned")

    async def solution(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        found = await self._agent_session(event, value)
        if isinstance(found, dict):
            return found
        operator, session = found
        form = _form(event)
        try:
            item = await self.desk.agents.save_solution(session.session_id, str(form.get("question") or ""),
                                                        str(form.get("solution") or ""), submitted_by=operator)
        except ValueError as exc:
            return toast("warning", str(exc))
        return toast("success", f"已提交审核 / Submitted for review: {item.review_id}")

    async def reveal_phone(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        """DESK_REVEAL_PHONE: the customer's own phone number, in a toast only the clicking agent sees; only
        the agent holding the session may ask, and every reveal is audited."""
        if not self.desk.sessions.reveal_phone:
            return toast("warning", "未开启查看手机号 / Revealing phone numbers is disabled")
        found = await self._agent_session(event, value)
        if isinstance(found, dict):
            return found
        operator, session = found
        if session.state != "claimed" or session.agent_id != operator:
            return toast("warning", "请先认领该会话 / Claim the session first")
        phones = await self.desk.sessions.contact_phones(session.session_id)
        await audit(self.desk.sessions.redis, "reveal_phone", actor=operator, session_id=session.session_id,
                    found=len(phones))
        log.info("desk.phone_revealed", session_id=session.session_id, agent_id=operator, found=len(phones))
        if not phones:
            return toast("info", "客户未提供手机号 / The customer gave no phone number")
        return toast("info", f"客户手机号 / Customer phone: {', '.join(phones)}")

    async def csat(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        session = await self.desk.sessions.find(str(value.get("session", "")))
        if session is None:
            return toast("warning", "评价已过期 / This rating has expired")
        if _operator(event) != session.customer_id:
            return toast("error", "只有被服务的客户可以评价 / Only the customer can rate this")
        try:
            score = int(value.get("score", 0))
            await self.desk.agents.record_csat(session.session_id, score, str(_form(event).get("comment") or ""))
        except ValueError as exc:
            return toast("warning", str(exc))
        return _card_response(csat_done_card(score, title=t("csat_thanks", session.language)))

    async def review(self, event: FeishuEvent, value: dict[str, Any]) -> dict[str, Any]:
        operator = _operator(event)
        if operator not in self.admins:
            return toast("error", t("admin_only", self.language))
        review_id = str(value.get("review", ""))
        try:
            if value.get("decision") == "approve":
                item = await self.desk.reviews.approve(review_id, operator)
                return toast("success", f"已通过并加入知识库 / Approved into knowledge: {item.source_id}")
            item = await self.desk.reviews.reject(review_id, operator)
            return toast("info", f"已驳回 / Rejected: {item.review_id}")
        except (ReviewNotFound, ValueError) as exc:
            return toast("warning", str(exc))


class DeskFollowups:
    """Handles FOLLOWUP_EVENT in the workers: retried by the queue when Feishu is briefly unavailable."""

    def __init__(self, desk: Desk, feishu: FeishuClient, *, agent_chat_id: str) -> None:
        self.desk = desk
        self.feishu = feishu
        self.agent_chat_id = agent_chat_id

    async def __call__(self, event: FeishuEvent) -> None:
        kind = str(event.event.get("kind", ""))
        try:
            session = await self.desk.sessions.get(str(event.event.get("session", "")))
        except SessionNotFound:
            log.warning("desk.followup_session_gone", kind=kind)
            return
        if kind == "claimed":
            await self.desk.agents.after_claim(session, update_agents=False)
        elif kind == "resolved":
            await self.desk.agents.after_resolve(session, update_agents=False)
        elif kind == "returned":
            await self.desk.agents.after_return(session, update_agents=False)
        elif kind == "suggest":
            await self._suggest(session)
        elif kind == "use_entry":
            option = event.event.get("option")
            if isinstance(option, dict):
                await self.desk.agents.answer_with_entry(session.session_id, option,
                                                         agent_id=str(event.event.get("agent", "")))
        else:
            log.warning("desk.followup_unknown", kind=kind)

    async def _suggest(self, session: Session) -> None:
        """The best knowledge for the whole conversation, as a card in the session's thread: each entry with
        a "send to the customer" button that also teaches the bot the customer's wording."""
        query, found = await self.desk.agents.recommend_for(session, top_k=3)
        if not session.card_message_id:
            return
        if not found:
            await self.feishu.reply_text(session.card_message_id,
                                         mask_text(f"知识库中没有找到与“{query[:60]}”相关的内容。"),
                                         reply_in_thread=True, chat_id=self.agent_chat_id)
            return
        await self.feishu.reply(session.card_message_id, "interactive", suggestion_thread_card(session, query, found),
                                reply_in_thread=True, chat_id=self.agent_chat_id)


class AgentThreadRelay:
    """An agent's message in a session card's thread goes to that session's customer."""

    def __init__(self, desk: Desk, feishu: FeishuClient, directory: AgentDirectory, language: str = "zh-CN") -> None:
        self.desk = desk
        self.feishu = feishu
        self.directory = directory
        self.language = language

    async def handle(self, message: IncomingMessage) -> str | None:
        """What to answer in the thread (None: stay silent)."""
        if not message.root_id:
            return None
        session = await self.desk.sessions.by_card(message.root_id)
        if session is None:
            return None
        if session.state == "pending":
            return "请先点击卡片上的“认领”，再回复客户。/ Claim the session on the card first."
        if session.state != "claimed":
            return None
        if message.sender_open_id != session.agent_id:
            return None  # colleagues may discuss in the thread; only the claiming agent speaks to the customer
        try:
            pushed = await self.desk.agents.send_to_customer(session.session_id, message.text,
                                                             agent_id=message.sender_open_id,
                                                             dedup_key=message.message_id)
        except TransitionRefused as exc:
            return exc.reason
        return None if pushed else t("relay_failed", self.language)
