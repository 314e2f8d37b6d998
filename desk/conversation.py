"""One customer turn, whatever the channel (Feishu, REST): intent, order flow, answer, escalation.

The channel adapter finds the session, calls `Conversation.turn`, and delivers `TurnResult.reply` (or a
suggestion card). While an agent has the session the bot stays quiet and relays the message to the agents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from config.messages import t
from desk.business import extract_order_id
from desk.context import ContextStore, TurnContext
from desk.escalation import Escalation, EscalationPolicy
from desk.hours import WorkingHours
from desk.intent import FOLLOW_UP, Intent, IntentRecognizer
from desk.order_flow import FLOW, OrderFlow
from desk.ports import Notifiers
from desk.sessions import Session, SessionStore, TransitionRefused
from desk.stats import DeskStats
from desk.turn_writes import TurnWrites, current_writes
from observability.langfuse import langfuse_context
from observability.masking import mask_text
from observability.metrics import ESCALATIONS, TURNS
from observability.traces import Trace, TraceStore
from rag.answer import TokenSink
from rag.learning import EntryRef
from rag.milvus import StoreUnavailable
from rag.normalize import cache_key_text
from rag.retrieval import Candidate, entry_key

log = structlog.get_logger("desk.conversation")


_HANDOVER_TEXT = {"human_request": "handover_human", "menu": "handover_human", "complaint": "handover_complaint",
                  "knowledge_unavailable": "handover_knowledge_unavailable"}
_CONTEXT_MESSAGES = 8  # recent messages intent and rewrite look at
_CHITCHAT_THANKS = ("谢", "thank", "thx")
_CHITCHAT_BYE = ("再见", "拜拜", "bye")
_DECISION_RANK = {"escalate": 0, "suggest": 1, "answer": 2}


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
    options: list[dict[str, Any]] = field(default_factory=list)  # the entries behind the did-you-mean buttons
    entry: dict[str, Any] | None = None  # the entry a direct answer came from (feedback buttons point at it)

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
        if self.options:
            out["options"] = [{"key": o.get("key", ""), "label": o.get("label", "")} for o in self.options]
        if self.entry:
            out["answer_entry"] = {"key": self.entry.get("key", ""), "label": self.entry.get("label", "")}
        return out


def summarize(history: list[dict[str, Any]], limit: int = 3, max_chars: int = 200) -> str:
    """What agents read first: the customer's last few messages."""
    said = [str(h.get("content", "")) for h in history if h.get("role") == "user"][-limit:]
    text = " / ".join(s for s in said if s)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


class Conversation:
    def __init__(self, sessions: SessionStore, answerer: Any, recognizer: IntentRecognizer, policy: EscalationPolicy,
                 *, notifiers: Notifiers, traces: TraceStore, stats: DeskStats, hours: WorkingHours,
                 contexts: ContextStore, order_flow: OrderFlow | None = None, learning: Any = None,
                 turn_budget_s: float = 8.0, language: str = "zh-CN") -> None:
        self.sessions = sessions
        self.answerer = answerer
        self.recognizer = recognizer
        self.policy = policy
        self.notifiers = notifiers
        self.traces = traces
        self.stats = stats
        self.hours = hours
        self.contexts = contexts
        self.order_flow = order_flow
        self.learning = learning  # rag/learning.py LearnedPhrasings: clicks and feedback teach it
        self.turn_budget_s = turn_budget_s
        self.language = language

    async def turn(self, session: Session, text: str, *, on_token: TokenSink | None = None) -> TurnResult:
        return await self._traced(session, lambda trace: self._turn(session, text, trace, on_token))

    async def choose(self, session: Session, option_key: str, label: str = "") -> TurnResult:
        """A click on a did-you-mean button: answer with that entry, and learn the wording it answered.
        A button from an older card (not among the last offer) is asked as a question of its own."""
        return await self._traced(session, lambda trace: self._choose(session, option_key, label, trace))

    async def feedback(self, session: Session, helpful: bool) -> TurnResult:
        """"This answered me" / "not helpful" on the last direct answer."""
        return await self._traced(session, lambda trace: self._feedback(session, helpful, trace))

    async def _traced(self, session: Session, run: Callable[[Trace], Awaitable[TurnResult]]) -> TurnResult:
        trace = self.traces.start(session.session_id, session.channel)
        writes = TurnWrites(self.sessions, self.contexts)
        token = current_writes.set(writes)
        with langfuse_context(session_id=session.session_id, trace_id=trace.trace_id):
            try:
                try:
                    result = await run(trace)
                finally:
                    current_writes.reset(token)
                    await writes.flush()  # what the reply did not carry (a turn without a reply, an error)
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
        deadline = asyncio.get_running_loop().time() + self.turn_budget_s
        starts_over = session.state == "resolved"
        if starts_over:  # a new question after a resolution starts over with the bot, and a new context
            session = await self.sessions.transition(sid, "bot", agent_id="", agent_name="", failed_attempts=0,
                                                     flow="", slots={}, escalate_reason="")
        stored: list[Any] = []  # the conversation context, read in the same round trip
        read_context = None if starts_over else lambda pipe: self.contexts.queue_load(pipe, sid)
        history = await self.sessions.append(sid, "user", text, read_back=_CONTEXT_MESSAGES, also=read_context,
                                             also_results=stored)
        if session.with_human:
            with trace.step("notify_agents"):
                await self.notifiers.customer_message(session, text)
            return TurnResult(session, "", session.intent or "human_request", "relayed")

        ctx = self.contexts.parse(stored[0]) if stored else TurnContext()
        _keep_context(session, ctx)  # saved with the reply, whichever way the turn goes
        repeated = ctx.note_message(text)
        with trace.step("recognize_intent"):
            intent = await self.recognizer.recognize(text, history[:-1], budget_s=_left(deadline))
        ctx.urgent = ctx.urgent or intent.urgent
        intent = replace(intent, urgent=ctx.urgent)  # said once, it stays urgent for this conversation
        if intent.name != session.intent:
            await self._update(session, intent=intent.name)
        order_id = extract_order_id(text)
        if order_id:
            ctx.set_order(order_id)
        return await self._route(session, text, history, intent, ctx, trace, on_token, deadline, repeated)

    async def _route(self, session: Session, text: str, history: list[dict[str, Any]], intent: Intent,
                     ctx: TurnContext, trace: Trace, on_token: TokenSink | None, deadline: float,
                     repeated: bool) -> TurnResult:
        prefix = ""
        if self.order_flow is not None and self.order_flow.in_progress(session):
            if self.order_flow.expired(session):
                await self._end_flow(session)
                prefix = t("flow_reset", session.language) + "\n"
            elif self.order_flow.left_behind(session, text) and intent.name != "business_query" \
                    and not repeated:
                await self._end_flow(session)  # a new question instead of the order number: answer that
            elif intent.name not in ("human_request", "complaint"):
                return await self._flow_turn(session, text, intent, ctx, trace, repeated=repeated)

        escalation = self.policy.before_answer(intent, session.customer_id)
        if escalation is not None:
            return await self.escalate(session, escalation, intent=intent.name, trace=trace)
        if intent.name == "chitchat":
            return await self._reply(session, prefix + _chitchat(text, session.language), intent, "chitchat")
        if self.order_flow is not None:
            if intent.name == "business_query" or (intent.order_words and ctx.recent_order()):
                return await self._flow_turn(session, text, intent, ctx, trace, prefix, repeated=repeated)
            if intent.order_words:
                # "付款后多久发货？": knowledge answers it if it can; otherwise it is about their own order.
                answered = await self._answer(session, text, history, intent, ctx, trace, on_token, prefix,
                                              deadline, repeated, only_direct=True)
                if answered is not None:
                    return answered
                return await self._flow_turn(session, text, intent, ctx, trace, prefix, repeated=repeated)
        result = await self._answer(session, text, history, intent, ctx, trace, on_token, prefix, deadline,
                                    repeated)
        assert result is not None
        return result

    # -- steps --------------------------------------------------------------------------------------------

    async def _search(self, text: str, history: list[dict[str, Any]], ctx: TurnContext, trace: Trace,
                      on_token: TokenSink | None, deadline: float) -> tuple[Any, str]:
        """The answer to `text`, and the wording that found it. Without a model to rewrite follow-ups, a short
        message that is not answered outright (or that leans on what came before: "那澳门呢") is also read
        together with the conversation's topic: that reading wins when it does better (or, for an elliptical
        follow-up, when it finds anything); otherwise both readings share the buttons."""
        with trace.step("rewrite_query"):
            question = await self.recognizer.rewrite(text, history[:-1], budget_s=_left(deadline))
        if question != text:
            trace.set(rewritten=question)
        answer = await self.answerer.answer(question, on_token=on_token, deadline=deadline)
        record_answer_steps(trace, answer.timings_ms, cached=answer.cached)
        topic = ctx.recent_topic()
        size = len(cache_key_text(text))
        elliptical = bool(FOLLOW_UP.search(text)) or size <= 6  # "那电子的呢"
        # Only a message that may lean on the topic is read with it: a full question is not (and the second
        # retrieval would double the cost of every unsure turn).
        dependent = elliptical or size <= 8  # "需要提供什么凭证?"
        if (not topic or not dependent or cache_key_text(topic) == cache_key_text(text)
                or (answer.decision == "answer" and not elliptical)
                or (self.recognizer.llm is not None and question != text)  # the model already read it in context
                or "stream_first_token" in answer.timings_ms):  # already streamed to the customer
            return answer, text
        reading = f"{topic} {text}"
        combined = await self.answerer.answer(reading, deadline=deadline)
        already = (ctx.answered.get("entry") or {}).get("key")
        if combined.entry and combined.entry.get("key") == already and not elliptical:
            return answer, text  # a new question, not the last one again
        if (elliptical and combined.decision != "escalate") or \
                _DECISION_RANK[combined.decision] > _DECISION_RANK[answer.decision]:
            trace.set(combined_with_topic=True)
            return combined, reading
        if answer.decision == "suggest" and combined.options:  # both readings among the buttons, context first
            answer.options = _interleave(combined.options, answer.options, len(answer.options))
            answer.suggestions = [o["label"] for o in answer.options]
        return answer, text

    async def _answer(self, session: Session, text: str, history: list[dict[str, Any]], intent: Intent,
                      ctx: TurnContext, trace: Trace, on_token: TokenSink | None, prefix: str, deadline: float,
                      repeated: bool, *, only_direct: bool = False) -> TurnResult | None:
        """`only_direct`: return None when knowledge has nothing to offer (the caller has another way)."""
        try:
            answer, wording = await self._search(text, history, ctx, trace, None if only_direct else on_token,
                                                 deadline)
        except StoreUnavailable as exc:  # the knowledge is down: a human answers instead of a retry loop
            log.warning("conversation.knowledge_unavailable", session_id=session.session_id, error=str(exc))
            ctx.note_unanswered(text)
            escalation = Escalation("knowledge_unavailable",
                                    self.policy.priority(intent, session.customer_id, "knowledge_unavailable"))
            return await self.escalate(session, escalation, intent=intent.name, trace=trace)
        if only_direct and answer.decision == "escalate":
            return None
        # What a click or feedback teaches: the customer's words, or the reading with the topic that found it.
        wording = mask_text(wording)[:200]
        own_reading = wording == mask_text(text)[:200]
        if answer.decision == "answer" and not repeated:
            ctx.answered = {"wording": wording, "entry": answer.entry or {}, "alternatives": [], "at": time.time()}
            ctx.offer = {}
            if own_reading:  # a follow-up read with the topic keeps that topic
                ctx.set_topic(text)
            await self._set_failed(session, 0)
            result = await self._reply(session, prefix + answer.text, intent, "answer", sources=answer.sources,
                                       counted="answer")
            result.entry = answer.entry
            # A cached answer carries the timings of the generation that once streamed it: nothing streamed now.
            result.streamed = on_token is not None and not answer.cached and "stream_first_token" in answer.timings_ms
            return result
        # Not answered outright (buttons, no answer, or the same message again): a turn that did not help.
        await self._count_answer(answer.decision)
        ctx.note_unanswered(text)
        failed = await self._set_failed(session, session.failed_attempts + 1)
        escalation = self.policy.after_no_answer(intent, session.customer_id, failed)
        if escalation is not None:
            result = await self.escalate(session, escalation, intent=intent.name, trace=trace)
            result.sources = answer.sources
            return result
        if answer.decision == "suggest":
            ctx.offer = {"wording": wording, "options": answer.options, "at": time.time()}
            if own_reading:
                ctx.set_topic(text)
            result = await self._reply(session, prefix + answer.text, intent, "suggest", sources=answer.sources,
                                       suggestions=answer.suggestions)
            result.options = answer.options
            return result
        if answer.decision == "answer":  # the same question again, answered the same: say so, offer a human
            return await self._reply(session, prefix + answer.text + "\n" + t("repeat_hint", session.language),
                                     intent, "answer", sources=answer.sources)
        return await self._reply(session, prefix + t("no_answer", session.language), intent, "no_answer",
                                 sources=answer.sources)

    async def _set_failed(self, session: Session, failed: int) -> int:
        if failed != session.failed_attempts:
            await self._update(session, failed_attempts=failed)
        return failed

    async def _count_answer(self, decision: str) -> None:
        writes = current_writes.get()
        if writes is None:
            await self.stats.count_answer(decision)
        else:
            writes.count_answer(decision)

    async def _update(self, session: Session, **values: Any) -> None:
        """Session fields that do not change its state: set on `session` now, written with the turn's reply."""
        for name, value in values.items():
            setattr(session, name, value)
        writes = current_writes.get()
        if writes is None:
            await self.sessions.update(session.session_id, **values)
        else:
            writes.update(session.session_id, **values)

    async def _flow_turn(self, session: Session, text: str, intent: Intent, ctx: TurnContext, trace: Trace,
                         prefix: str = "", *, repeated: bool = False) -> TurnResult:
        assert self.order_flow is not None
        with trace.step("business_lookup"):
            step = await self.order_flow.step(session, text, known_order_id=ctx.recent_order(), repeated=repeated)
        if step.resolved and step.slots.get("order_id"):
            ctx.set_order(str(step.slots["order_id"]))
        elif step.failed:
            ctx.order_id = ""  # an order the backend does not know is not the conversation's order
        values: dict[str, Any] = {"flow": FLOW if step.active else "", "slots": step.slots if step.active else {},
                                  "flow_updated_at": time.time()}
        failed = session.failed_attempts + 1 if step.failed else (0 if step.resolved else session.failed_attempts)
        values["failed_attempts"] = failed
        await self._update(session, **values)
        if step.failed:
            ctx.note_unanswered(text)
            escalation = self.policy.after_no_answer(intent, session.customer_id, failed)
            if escalation is not None:
                await self._end_flow(session)
                return await self.escalate(session, escalation, intent=intent.name, trace=trace)
        decision = "business" if step.resolved else "flow"
        return await self._reply(session, prefix + step.reply, intent, decision,
                                 sources=[{"order": step.order}] if step.order else [])

    async def _end_flow(self, session: Session) -> None:
        await self._update(session, flow="", slots={})

    async def _reply(self, session: Session, text: str, intent: Intent, decision: str, *,
                     sources: list[dict[str, Any]] | None = None, suggestions: list[str] | None = None,
                     counted: str = "") -> TurnResult:
        """`counted`: an answer decision to add to the desk stats. The turn's other writes go in the same round trip."""
        if counted:
            await self._count_answer(counted)
        writes = current_writes.get()
        await self.sessions.append(session.session_id, "assistant", text, also=writes.queued if writes else None)
        return TurnResult(session, text, intent.name, decision, sources=sources or [], suggestions=suggestions or [])

    # -- clicks and feedback ------------------------------------------------------------------------------

    async def _choose(self, session: Session, option_key: str, label: str, trace: Trace) -> TurnResult:
        ctx = await self.contexts.load(session.session_id)
        _keep_context(session, ctx)
        option = next((o for o in ctx.offer.get("options", []) if o.get("key") == option_key), None)
        if option is None or session.with_human:
            # A button of an older card: its label is a question like any other.
            if label or session.with_human:
                return await self._turn(session, label or option_key, trace, None)
            return await self._reply(session, t("no_answer", session.language), Intent("faq"), "no_answer")
        await self.sessions.append(session.session_id, "user", f"[选择] {option.get('label', '')}")
        candidate = await self._candidate(option)
        intent = Intent("faq", urgent=ctx.urgent)
        if candidate is None:  # the entry was deleted since the card was shown
            ctx.offer = {}
            return await self._reply(session, t("no_answer", session.language), intent, "no_answer")
        wording = str(ctx.offer.get("wording", ""))
        deadline = asyncio.get_running_loop().time() + self.turn_budget_s
        with trace.step("generate"):
            answer = await self.answerer.answer_with(wording or candidate.hit.question, candidate, [candidate],
                                                     deadline=deadline)
        await self._learn(wording, option, "click", session.customer_id)
        others = [o for o in ctx.offer.get("options", []) if o.get("key") != option_key]
        ctx.answered = {"wording": wording, "entry": option, "alternatives": others, "at": time.time()}
        ctx.offer = {}
        ctx.set_topic(str(option.get("question") or option.get("label") or wording))
        await self._set_failed(session, 0)
        result = await self._reply(session, answer.text, intent, "answer", sources=answer.sources, counted="answer")
        result.entry = option
        return result

    async def _feedback(self, session: Session, helpful: bool, trace: Trace) -> TurnResult:
        ctx = await self.contexts.load(session.session_id)
        _keep_context(session, ctx)
        entry, wording = ctx.answered.get("entry") or {}, str(ctx.answered.get("wording", ""))
        intent = Intent("faq", urgent=ctx.urgent)
        await self.sessions.append(session.session_id, "user", "[反馈] 已解决" if helpful else "[反馈] 没有帮助",
                                   kind="feedback")
        if session.with_human or not entry:
            return await self._reply(session, t("feedback_thanks", session.language), intent, "feedback")
        await self._learn(wording, entry, "helpful" if helpful else "not_helpful", session.customer_id)
        if helpful:
            await self._set_failed(session, 0)
            return await self._reply(session, t("feedback_thanks", session.language), intent, "feedback")
        alternatives = list(ctx.answered.get("alternatives") or [])
        ctx.answered = {}
        ctx.note_unanswered(wording)
        failed = await self._set_failed(session, session.failed_attempts + 1)
        escalation = self.policy.after_no_answer(intent, session.customer_id, max(failed, 1))
        if escalation is None and not alternatives:
            escalation = Escalation("failed_answers", self.policy.priority(intent, session.customer_id,
                                                                          "failed_answers"))
        if escalation is not None:
            return await self.escalate(session, escalation, intent="faq", trace=trace)
        ctx.offer = {"wording": wording, "options": alternatives, "at": time.time()}
        result = await self._reply(session, t("did_you_mean_other", session.language), intent, "suggest",
                                   suggestions=[str(o.get("label", "")) for o in alternatives])
        result.options = alternatives
        return result

    async def _candidate(self, option: dict[str, Any]) -> Candidate | None:
        store = self.answerer.retriever.store
        hits = await store.entry_rows([(str(option.get("source_id", "")), str(option.get("block_id", "")),
                                        str(option.get("chunk_id", "")))])
        if not hits:
            return None
        return Candidate(entry_key(hits[0]), hits[0], dense=1.0)

    async def _learn(self, wording: str, option: dict[str, Any], kind: str, customer_id: str) -> None:
        if self.learning is None or not wording or not option.get("key"):
            return
        try:
            await self.learning.signal(wording, EntryRef.from_option(option), kind, customer_id, customer=customer_id)
        except Exception as exc:  # learning must never cost the customer their answer
            log.warning("conversation.learning_failed", error=f"{type(exc).__name__}: {exc}")

    # -- hand-over ----------------------------------------------------------------------------------------

    async def escalate(self, session: Session, escalation: Escalation, *, intent: str = "",
                       trace: Trace | None = None) -> TurnResult:
        """Hand the session to the agents: pending state, the customer told, the agent group alerted."""
        writes = current_writes.get()
        # The turn's pending writes land before the state changes, with the history read.
        history = await self.sessions.history(session.session_id, also=writes.queued if writes else None)
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
        if writes is None:
            await self.stats.count("escalations")
        else:
            writes.count("escalations")
        lang = session.language or self.language
        reply = t(_HANDOVER_TEXT.get(escalation.reason, "handover_failed"), lang)
        if not self.hours.is_open():
            reply += "\n" + t("agents_away", lang, when=self.hours.next_open().strftime("%m-%d %H:%M"))
        await self.sessions.append(session.session_id, "assistant", reply, also=writes.queued if writes else None)
        started = time.perf_counter()
        await self.notifiers.escalated(session, history)
        if trace is not None:
            trace.add_step("notify_agents", (time.perf_counter() - started) * 1000)
            trace.set(escalate_reason=escalation.reason, priority=escalation.priority)
        log.info("conversation.escalated", session_id=session.session_id, reason=escalation.reason,
                 priority=escalation.priority, summary=mask_text(summary))
        return TurnResult(session, reply, intent or session.intent, "handover", escalation=escalation)


def _keep_context(session: Session, ctx: TurnContext) -> None:
    writes = current_writes.get()
    if writes is not None:
        writes.keep_context(session.session_id, ctx, session.customer_id)


def _interleave(first: list[dict[str, Any]], second: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for pair in zip(first, second, strict=False):
        for option in pair:
            out.setdefault(str(option.get("key")), option)
    for option in (*first, *second):
        out.setdefault(str(option.get("key")), option)
    return list(out.values())[: max(limit, 1)]


def _left(deadline: float) -> float:
    return max(0.0, deadline - asyncio.get_running_loop().time())


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
