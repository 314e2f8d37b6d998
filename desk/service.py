"""The desk's long-lived parts, built once from settings and shared by the Feishu and REST channels."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis.asyncio as aioredis

from config.settings import Settings
from desk.agent_desk import AgentDesk
from desk.business import BusinessBackend, create_business_backend
from desk.context import ContextStore
from desk.conversation import Conversation
from desk.escalation import EscalationPolicy
from desk.hours import WorkingHours
from desk.intent import IntentRecognizer
from desk.order_flow import OrderFlow
from desk.ports import Channels, Notifiers
from desk.privacy import Eraser
from desk.reviews import ReviewQueue
from desk.sessions import SessionStore
from desk.stats import DeskStats
from observability.traces import TraceStore
from rag.llm import LLMClient
from rag.service import Knowledge


@dataclass
class Desk:
    sessions: SessionStore
    conversation: Conversation
    agents: AgentDesk
    reviews: ReviewQueue
    stats: DeskStats
    notifiers: Notifiers  # channels add theirs (the Feishu agent group)
    channels: Channels  # customer channels that can push (Feishu)
    hours: WorkingHours
    traces: TraceStore
    business: BusinessBackend | None
    # Stores holding anything derived from a customer's words plug in here; /forget calls each (desk/privacy.py).
    erasers: dict[str, Eraser] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, redis: aioredis.Redis, knowledge: Knowledge) -> Desk:
        sessions = SessionStore(redis, history_max=settings.desk_history_max, ttl_s=settings.desk_session_ttl_s,
                                reveal_phone=settings.desk_reveal_phone)
        notifiers, channels = Notifiers(), Channels()
        stats = DeskStats(redis)
        traces = TraceStore(redis, max_traces=settings.trace_max, ttl_s=settings.trace_ttl_s)
        hours = WorkingHours.parse(settings.desk_working_hours, settings.desk_working_days, settings.desk_timezone)
        business = create_business_backend(settings)
        llm = LLMClient.from_settings(settings, timeout_s=min(settings.llm_timeout_s, 5.0))
        recognizer = IntentRecognizer(settings.desk_human_keywords.split(","), llm=llm)
        policy = EscalationPolicy(settings.desk_max_failed_answers, settings.desk_escalate_on_no_answer,
                                  settings.vip_ids)
        order_flow = (OrderFlow(business, idle_s=settings.desk_flow_idle_s, language=settings.bot_language)
                      if business is not None else None)
        contexts = ContextStore(redis, ttl_s=settings.desk_session_ttl_s)
        conversation = Conversation(sessions, knowledge.answerer, recognizer, policy, notifiers=notifiers,
                                    traces=traces, stats=stats, hours=hours, contexts=contexts, order_flow=order_flow,
                                    learning=knowledge.learning, turn_budget_s=settings.desk_turn_budget_s,
                                    language=settings.bot_language)
        reviews = ReviewQueue(redis, knowledge.kb)
        agents = AgentDesk(sessions, retriever=knowledge.retriever, business=business, notifiers=notifiers,
                           channels=channels, reviews=reviews, stats=stats, contexts=contexts,
                           learning=knowledge.learning, language=settings.bot_language)
        erasers: dict[str, Eraser] = {"learned_phrasings": knowledge.learning.forget_customer,
                                      "conversation_context": contexts.forget_customer}
        return cls(sessions, conversation, agents, reviews, stats, notifiers, channels, hours, traces, business,
                   erasers)

    async def close(self) -> None:
        if self.business is not None:
            await self.business.close()
        llm = self.conversation.recognizer.llm
        if llm is not None:
            await llm.aclose()
