"""One customer turn, whatever the channel (Feishu, REST): intent, order flow, answer, escalation.

The channel adapter finds the session, calls `Conversation.turn`, and delivers `TurnResult.reply` (or a
suggestion card). While an agent has the session the bot stays quiet and relays the message to the agents.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from config.messages import t
from desk.escalation import Escalation, EscalationPolicy
from desk.hours import WorkingHours
from desk.intent import Intent, IntentRecognizer
from desk.order_flow import FLOW, OrderFlow
from desk.ports import Notifiers
from desk.sessions import Session, SessionStore, TransitionRefused
from desk.stats import DeskStats
from observability.langfuse import langfuse_context
from observability.masking import mask_text
from observability.metrics import ESCALATIONS, TURNS
from observability.traces import Trace, TraceStore
from rag.answer import TokenSink

log = structlog.get_logger("desk.conversation")


_HANDOVER_TEXT = {"human_request": "handover_human", "menu": "handover_human", "complaint": "handover_complaint"}
_CONTEXT_MESSAGES = 8  # recent messages intent and rewrite look at
_CHITCHAT_THANKS = ("谢", "thank", "thx")
_CHITCHAT_BYE = ("再见", "拜拜", "bye")


@dataclass
class TurnResult:
    session: Session
    reply: str
    intent: str
    decision: str = ""  # answer, suggest, escalate, business, chitchat, flow, relayed, handover
    escalation: Escalation | None = None  # set on the turn that handed over
    sources: list[dict[str, Any]] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    trace_id: str = ""
    streamed: bool = False  # the reply went out through `on_token` as it was generated

    def data(self) -> dict[str, Any]:
        """The `data` object of the REST chat contract."""
        out: dict[str, Any] = {
            "intent": self.intent,
            "escalate_to_human": self.session.with_human,
            "failed_attempts": self.session.failed_attempts,
            "state": self.session.state,
            "decision": self.decision,
            "trace_id": self.trace_id,
        }
        if self.session.with_human:
            out["escalation_card"] = {"session_id": self.session.session_id,
                                      "escalate_reason": self.session.escalate_reason,
                                      "priority": self.session.priority, "summary": self.session.summary}
        if self.sources:
            out["sources"] = self.sources
        if self.suggestions:
            out["suggestions"] = self.suggestions
        return out


def summarize(history: list[dict[str, Any]], limit: int = 3, max_chars: int = 200) -> str:
    """What agents read first: the customer's last few messages."""
    said = [str(h.get("content", "")) for h in history if h.get("role") == "user"][-limit:]
    text = " / ".join(s for s in said if s)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


class Conversation:
    def __init__(self, sessions: SessionStore, answerer: Any, recognizer: IntentRecognizer, policy: EscalationPolicy,
                 *, notifiers: Notifiers, traces: TraceStore, stats: DeskStats, hours: WorkingHours,
                 order_flow: OrderFlow | None = None, language: str = "zh-CN") -> None:
        self.sessions = sessions
        self.answerer = answerer
        self.recognizer = recognizer
        self.policy = policy
        self.notifiers = notifiers
        self.traces = traces
        self.stats = stats
        self.hours = hours
        self.order_flow = order_flow
        self.language = language

    async def turn(self, session: Session, text: str, *, on_token: TokenSink | None = None) -> TurnResult:
        trace = self.traces.start(session.session_id, session.channel)
        with langfuse_context(session_id=session.session_id, trace_id=trace.trace_id):
            try:
                result = await self._turn(session, text, trace, on_token)
            except Exception:
                trace.finish("error")
                await self.traces.save(trace)
                TURNS.labels(session.channel, "error").inc()
                raise
        trace.set(intent=result.intent, decision=result.decision, state=result.session.state)
        trace.finish("ok")
        await self.traces.save(trace)
        result.trace_id = trace.trace_id
        TURNS.labels(session.channel, result.decision or "none").inc()
        log.info("conversation.turn", session_id=session.session_id, channel=session.channel, intent=result.intent,
                 decision=result.decision, state=result.session.state, failed=result.session.failed_attempts)
        return result

    async def _turn(self, session: Session, text: str, trace: Trace, on_token: TokenSink | None) -> TurnResult:
        sid = session.session_id
        if session.state == "resolved":  # a new question after a resolution starts over with the bot
            session = await self.sessions.transition(sid, "bot", agent_id="", agent_name="", failed_attempts=0,
                                                     flow="", slots={}, escalate_reason="")
        history = await self.sessions.append(sid, "user", text, read_back=_CONTEXT_MESSAGES)
        if session.with_human:
            with trace.step("notify_agents"):
                await self.notifiers.customer_message(session, text)
            return TurnResult(session, "", session.intent or "human_request", "relayed")

        with trace.step("recognize_intent"):
            intent = await self.recognizer.recognize(text, history[:-1])
        if intent.name != session.intent:
            await self.sessions.update(sid, intent=intent.name)
            session.intent = intent.name

        prefix = ""
        if self.order_flow is not None and self.order_flow.in_progress(session):
            if self.order_flow.expired(session):
                await self._end_flow(session)
                prefix = t("flow_reset", session.language) + "\n"
            elif self.order_flow.left_behind(session, text) and intent.name != "business_query":
                await self._end_flow(session)  # a new question instead of the order number: answer that
            elif intent.name not in ("human_request", "complaint"):
                return await self._flow_turn(session, text, intent, trace)

        escalation = self.policy.before_answer(intent, session.customer_id)
        if escalation is not None:
            return await self.escalate(session, escalation, intent=intent.name, trace=trace)
        if intent.name == "chitchat":
            return await self._reply(session, prefix + _chitchat(text, session.language), intent, "chitchat")
        if intent.name == "business_query" and self.order_flow is not None:
            return await self._flow_turn(session, text, intent, trace, prefix)
        return await self._answer(session, text, history, intent, trace, on_token, prefix)

    # -- steps --------------------------------------------------------------------------------------------

    async def _answer(self, session: Session, text: str, history: list[dict[str, Any]], intent: Intent,
                      trace: Trace, on_token: TokenSink | None, prefix: str) -> TurnResult:
        with trace.step("rewrite_query"):
            question = await self.recognizer.rewrite(text, history[:-1])
        if question != text:
            trace.set(rewritten=question)
        answer = await self.answerer.answer(question, on_token=on_token)
        record_answer_steps(trace, answer.timings_ms, cached=answer.cached)
        if answer.decision == "escalate":
            await self.stats.count_answer(answer.decision)
            failed = session.failed_attempts + 1
            await self.sessions.update(session.session_id, failed_attempts=failed)
            session.failed_attempts = failed
            escalation = self.policy.after_no_answer(intent, session.customer_id, failed)
            if escalation is not None:
                result = await self.escalate(session, escalation, intent=intent.name, trace=trace)
                result.sources = answer.sources
                return result
            return await self._reply(session, prefix + t("no_answer", session.language), intent, "no_answer",
                                     sources=answer.sources)
        if session.failed_attempts:
            await self.sessions.update(session.session_id, failed_attempts=0)
            session.failed_attempts = 0
        result = await self._reply(session, prefix + answer.text, intent, answer.decision, sources=answer.sources,
                                   suggestions=answer.suggestions, counted=answer.decision)
        # A cached answer carries the timings of the generation that once streamed it: nothing streamed now.
        result.streamed = on_token is not None and not answer.cached and "stream_first_token" in answer.timings_ms
        return result

    async def _flow_turn(self, session: Session, text: str, intent: Intent, trace: Trace,
                         prefix: str = "") -> TurnResult:
        assert self.order_flow is not None
        with trace.step("business_lookup"):
            step = await self.order_flow.step(session, text)
        values: dict[str, Any] = {"flow": FLOW if step.active else "", "slots": step.slots if step.active else {},
                                  "flow_updated_at": time.time()}
        failed = session.failed_attempts + 1 if step.failed else (0 if step.resolved else session.failed_attempts)
        values["failed_attempts"] = failed
        await self.sessions.update(session.session_id, **values)
        session.flow, session.slots, session.failed_attempts = values["flow"], values["slots"], failed
        if step.failed:
            escalation = self.policy.after_no_answer(intent, session.customer_id, failed)
            if escalation is not None:
                await self._end_flow(session)
                return await self.escalate(session, escalation, intent=intent.name, trace=trace)
        decision = "business" if step.resolved else "flow"
        return await self._reply(session, prefix + step.reply, intent, decision,
                                 sources=[{"order": step.order}] if step.order else [])

    async def _end_flow(self, session: Session) -> None:
        await self.sessions.update(session.session_id, flow="", slots={})
        session.flow, session.slots = "", {}

    async def _reply(self, session: Session, text: str, intent: Intent, decision: str, *,
                     sources: list[dict[str, Any]] | None = None, suggestions: list[str] | None = None,
                     counted: str = "") -> TurnResult:
        """`counted`: an answer decision to add to the desk stats in the same round trip."""
        also = (lambda pipe: DeskStats.count_answer_in(pipe, counted)) if counted else None
        await self.sessions.append(session.session_id, "assistant", text, also=also)
        return TurnResult(session, text, intent.name, decision, sources=sources or [], suggestions=suggestions or [])

    # -- hand-over ----------------------------------------------------------------------------------------

    async def escalate(self, session: Session, escalation: Escalation, *, intent: str = "",
                       trace: Trace | None = None) -> TurnResult:
        """Hand the session to the agents: pending state, the customer told, the agent group alerted."""
        history = await self.sessions.history(session.session_id)
        summary = summarize(history)
        try:
            session = await self.sessions.transition(
                session.session_id, "pending", from_states=("bot",), priority=escalation.priority,
                escalate_reason=escalation.reason, summary=summary, intent=intent or session.intent, alerts=0,
                flow="", slots={})
        except TransitionRefused as exc:  # already with a human: nothing to do twice
            log.info("conversation.escalation_skipped", reason=exc.reason)
            return TurnResult(session, "", intent or session.intent, "relayed")
        ESCALATIONS.labels(escalation.reason, escalation.priority).inc()
        await self.stats.count("escalations")
        lang = session.language or self.language
        reply = t(_HANDOVER_TEXT.get(escalation.reason, "handover_failed"), lang)
        if not self.hours.is_open():
            reply += "\n" + t("agents_away", lang, when=self.hours.next_open().strftime("%m-%d %H:%M"))
        await self.sessions.append(session.session_id, "assistant", reply)
        started = time.perf_counter()
        await self.notifiers.escalated(session, history)
        if trace is not None:
            trace.add_step("notify_agents", (time.perf_counter() - started) * 1000)
            trace.set(escalate_reason=escalation.reason, priority=escalation.priority)
        log.info("conversation.escalated", session_id=session.session_id, reason=escalation.reason,
                 priority=escalation.priority, summary=mask_text(summary))
        return TurnResult(session, reply, intent or session.intent, "handover", escalation=escalation)


def record_answer_steps(trace: Trace, timings: dict[str, float], *, cached: bool) -> None:
    """The answerer's timings as trace steps: retrieve (query embedding + search), rerank, generate,
    stream_first_token; a cached answer is one `cache_hit` step."""
    if cached:
        trace.add_step("cache_hit", timings.get("total", 0.0))
        return
    if "embed" in timings or "search" in timings:
        trace.add_step("retrieve", timings.get("embed", 0.0) + timings.get("search", 0.0),
                       embed_ms=round(timings.get("embed", 0.0), 2), search_ms=round(timings.get("search", 0.0), 2))
    for step in ("rerank", "generate", "stream_first_token"):
        if step in timings:
            trace.add_step(step, timings[step])


def _chitchat(text: str, language: str) -> str:
    lowered = text.lower()
    if any(w in lowered for w in _CHITCHAT_THANKS):
        return t("chitchat_thanks", language)
    if any(w in lowered for w in _CHITCHAT_BYE):
        return t("chitchat_bye", language)
    return t("chitchat_hello", language)
