"""Customers in Feishu: each message is a turn of their desk session; plus the welcome and the bot menu.

Messages in the agent group are agents' (thread replies to relay) and admin commands work anywhere.
"""

from __future__ import annotations

from typing import Any

import structlog

from bot.handlers.admin import AdminCommands
from bot.handlers.desk import AgentThreadRelay
from bot.handlers.messages import Reply
from bot.handlers.streaming import CardStreamer
from config.messages import t
from desk.conversation import TurnResult
from desk.escalation import Escalation
from desk.intent import Intent
from desk.service import Desk
from desk.sessions import Session
from feishu import FeishuClient
from feishu.events import FeishuEvent
from feishu.message_text import IncomingMessage

log = structlog.get_logger("bot.customer")

CHANNEL = "feishu"
_P2P_KEY = "larkdesk:desk:p2p:{}"  # customer open_id -> their p2p chat with the bot
_WELCOMED_KEY = "larkdesk:desk:welcomed:{}"


def _button(element_id: str, label: str, value: dict[str, Any], kind: str = "default") -> dict[str, Any]:
    return {"tag": "button", "element_id": element_id, "type": kind, "width": "fill",
            "text": {"tag": "plain_text", "content": label}, "behaviors": [{"type": "callback", "value": value}]}


def suggestion_card(options: list[dict[str, Any]], language: str, *, title: str = "") -> dict[str, Any]:
    """Did you mean: one button per entry (the click answers with that entry and teaches the wording), and
    always a way to a human."""
    title = title or t("did_you_mean", language)
    buttons = [_button(f"ask_{i}", str(o.get("label", "")), {"action": "ask", "key": str(o.get("key", "")),
                                                               "question": str(o.get("label", ""))[:200]})
               for i, o in enumerate(options)]
    buttons.append(_button("ask_human", t("button_human", language), {"action": "human"}, "primary_text"))
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": title}},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": "blue"},
        "body": {"elements": buttons},
    }


def answer_card(text: str, language: str) -> dict[str, Any]:
    """A direct answer, with "this answered me" / "not helpful" (both teach: rag/learning.py)."""
    return {
        "schema": "2.0",
        "config": {"update_multi": True, "summary": {"content": text[:100]}},
        "body": {"elements": [
            {"tag": "markdown", "element_id": "answer", "content": text},
            {"tag": "column_set", "element_id": "feedback", "columns": [
                {"tag": "column", "width": "auto", "elements": [
                    _button("fb_yes", t("button_helpful", language), {"action": "feedback", "helpful": True})]},
                {"tag": "column", "width": "auto", "elements": [
                    _button("fb_no", t("button_not_helpful", language), {"action": "feedback", "helpful": False})]},
            ]},
        ]},
    }


def reply_for(result: TurnResult, language: str) -> Reply | None:
    if result.decision == "suggest" and result.options:
        title = result.reply if result.reply != t("did_you_mean", language) else ""
        return Reply(card=suggestion_card(result.options, language, title=title))
    if result.decision == "answer" and result.entry and result.reply:
        return Reply(card=answer_card(result.reply, language))
    return Reply(text=result.reply) if result.reply else None


class CustomerResponder:
    def __init__(self, desk: Desk, feishu: FeishuClient, admin: AdminCommands, relay: AgentThreadRelay, *,
                 agent_chat_id: str, language: str, stream: bool) -> None:
        self.desk = desk
        self.feishu = feishu
        self.admin = admin
        self.relay = relay
        self.agent_chat_id = agent_chat_id
        self.language = language
        self.stream = stream

    async def session_of(self, open_id: str, chat_id: str) -> Session:
        return await self.desk.sessions.for_customer(CHANNEL, open_id, chat_id=chat_id, language=self.language)

    async def __call__(self, message: IncomingMessage) -> Reply | None:
        command = self.admin.parse(message.text)
        if command is not None:
            return await self.admin.run(*command, message)
        if self.agent_chat_id and message.chat_id == self.agent_chat_id:
            note = await self.relay.handle(message)
            return Reply(text=note, in_thread=True) if note else None
        if message.chat_type == "p2p":
            await self.desk.sessions.redis.set(_P2P_KEY.format(message.sender_open_id), message.chat_id,
                                               ex=self.desk.sessions.ttl_s)
        session = await self.session_of(message.sender_open_id, message.chat_id)
        streamer = CardStreamer(self.feishu, message.message_id, message.chat_id) if self.stream else None
        result = await self.desk.conversation.turn(session, message.text,
                                                   on_token=streamer.push if streamer else None)
        if streamer is not None and streamer.started:
            if await streamer.finish(result.reply):
                return None
            log.info("customer.stream_fallback", session_id=session.session_id)
        return reply_for(result, self.language)

    async def ask(self, open_id: str, chat_id: str, question: str, key: str = "") -> Reply | None:
        """A click on a did-you-mean button: answered with that entry (a button of an older card, or one
        without a key, is asked as a question)."""
        session = await self.session_of(open_id, chat_id)
        if key:
            return reply_for(await self.desk.conversation.choose(session, key, question), self.language)
        return reply_for(await self.desk.conversation.turn(session, question), self.language)

    async def feedback(self, open_id: str, chat_id: str, helpful: bool) -> Reply | None:
        session = await self.session_of(open_id, chat_id)
        return reply_for(await self.desk.conversation.feedback(session, helpful), self.language)

    async def human(self, open_id: str, chat_id: str) -> Reply | None:
        """The "转人工" button: the same as writing it."""
        session = await self.session_of(open_id, chat_id)
        return reply_for(await self.desk.conversation.turn(session, t("button_human", "zh-CN")), self.language)


class WelcomeAndMenu:
    """`bot_p2p_chat_entered`: greet once a day; `application.bot.menu_v6`: the "human" menu item escalates."""

    def __init__(self, desk: Desk, feishu: FeishuClient, *, human_key: str, language: str) -> None:
        self.desk = desk
        self.feishu = feishu
        self.human_key = human_key
        self.language = language

    async def entered(self, event: FeishuEvent) -> None:
        body = event.event
        chat_id = str(body.get("chat_id", ""))
        open_id = str((body.get("operator_id") or {}).get("open_id", ""))
        if not chat_id or not open_id:
            return
        redis = self.desk.sessions.redis
        await redis.set(_P2P_KEY.format(open_id), chat_id, ex=self.desk.sessions.ttl_s)
        if await redis.set(_WELCOMED_KEY.format(open_id), "1", nx=True, ex=24 * 3600):
            await self.feishu.send_text(chat_id, t("welcome", self.language), uuid=f"welcome-{event.event_id}"[:50])

    async def menu(self, event: FeishuEvent) -> None:
        body = event.event
        open_id = str(((body.get("operator") or {}).get("operator_id") or {}).get("open_id", ""))
        if body.get("event_key") != self.human_key or not open_id:
            log.info("customer.menu_ignored", event_key=body.get("event_key"))
            return
        chat_id = await self.desk.sessions.redis.get(_P2P_KEY.format(open_id))
        chat_id = chat_id.decode() if isinstance(chat_id, bytes) else (chat_id or "")
        session = await self.desk.sessions.for_customer(CHANNEL, open_id, chat_id=chat_id, language=self.language)
        await self.desk.sessions.append(session.session_id, "user", "[菜单] 转人工 / menu: human agent")
        if session.state == "resolved":
            session = await self.desk.sessions.transition(session.session_id, "bot", agent_id="", agent_name="",
                                                          failed_attempts=0)
        result = await self.desk.conversation.escalate(
            session, Escalation("menu", self.desk.conversation.policy.priority(Intent("human_request"), open_id,
                                                                               "menu")),
            intent="human_request")
        if not result.reply:
            return  # already with an agent
        if chat_id:
            await self.feishu.send_text(chat_id, result.reply, uuid=f"menu-{event.event_id}"[:50])
        else:
            await self.feishu.send(open_id, "text", {"text": result.reply}, receive_id_type="open_id",
                                   uuid=f"menu-{event.event_id}"[:50])
