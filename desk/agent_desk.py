"""What agents do to a session, from a Feishu card or the REST API alike: claim, write, resolve, hand back,
ask knowledge or the business backend for help, propose a solution, and what the customer's rating says.

Claim is one compare-and-set (desk/sessions.py): of any number of simultaneous claims exactly one wins.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import structlog

from config.messages import t
from desk.business import BusinessBackend, BusinessUnavailable, describe_order, extract_order_id
from desk.context import ContextStore
from desk.intent import FOLLOW_UP
from desk.ports import Channels, Notifiers
from desk.reviews import ReviewQueue, Solution
from desk.sessions import Session, SessionStore, TransitionRefused
from desk.stats import DeskStats
from observability.metrics import CLAIMS, CSAT_SCORES, RESOLUTIONS
from rag.answer import option_of
from rag.learning import EntryRef
from rag.normalize import cache_key_text

log = structlog.get_logger("desk.agents")

_SUGGEST_TURNS = 4  # the customer's recent questions that "Suggest answer" searches
_HUMAN_REQUEST = re.compile(r"转人工|人工客服|找人工|真人|human|agent", re.IGNORECASE)


@dataclass(frozen=True)
class ClaimResult:
    won: bool
    session: Session
    holder_id: str  # who has it now
    holder_name: str
    reason: str = ""


class AgentDesk:
    def __init__(self, sessions: SessionStore, *, retriever: Any, business: BusinessBackend | None,
                 notifiers: Notifiers, channels: Channels, reviews: ReviewQueue, stats: DeskStats,
                 contexts: ContextStore | None = None, learning: Any = None, language: str = "zh-CN") -> None:
        self.sessions = sessions
        self.retriever = retriever
        self.business = business
        self.notifiers = notifiers
        self.channels = channels
        self.reviews = reviews
        self.stats = stats
        self.contexts = contexts
        self.learning = learning  # rag/learning.py: an agent's pick teaches the customer's wordings
        self.language = language

    # -- state changes ------------------------------------------------------------------------------------

    async def claim(self, session_id: str, agent_id: str, agent_name: str = "", *, notify: bool = True) -> ClaimResult:
        """Exactly one winner. `notify=False` leaves the follow-ups (agents' card, customer) to the caller,
        so a card callback can answer Feishu first and do the slower work after."""
        try:
            session = await self.sessions.transition(session_id, "claimed", from_states=("pending",),
                                                     agent_id=agent_id, agent_name=agent_name or agent_id,
                                                     claimed_at=time.time())
        except TransitionRefused as exc:
            CLAIMS.labels("lost").inc()
            current = exc.session or await self.sessions.get(session_id)
            return ClaimResult(False, current, current.agent_id, current.agent_name, exc.reason)
        CLAIMS.labels("won").inc()
        await self.stats.count("claims")
        log.info("desk.claimed", session_id=session_id, agent_id=agent_id)
        if notify:
            await self.after_claim(session)
        return ClaimResult(True, session, agent_id, session.agent_name)

    async def after_claim(self, session: Session, *, update_agents: bool = True) -> None:
        """`update_agents=False`: the agents' view was already updated (a card callback returned the card)."""
        if update_agents:
            await self.notifiers.changed(session, "claimed")
        await self._tell_customer(session, t("agent_joined", session.language, agent=session.agent_name),
                                  dedup_key=f"joined-{session.session_id}-{int(session.claimed_at)}")

    async def resolve(self, session_id: str, note: str = "", *, agent_id: str = "", notify: bool = True) -> Session:
        """Close the session (claimed, or still pending when an agent answers it at once)."""
        session = await self.sessions.transition(session_id, "resolved", held_by=agent_id if agent_id else "",
                                                 resolve_note=note[:1000], resolved_at=time.time(),
                                                 csat_score=0, csat_comment="")
        RESOLUTIONS.inc()
        await self.stats.count("resolutions")
        await self.sessions.append(session_id, "system", f"resolved: {note}" if note else "resolved")
        log.info("desk.resolved", session_id=session_id, agent_id=session.agent_id)
        if notify:
            await self.after_resolve(session)
        return session

    async def after_resolve(self, session: Session, *, update_agents: bool = True) -> None:
        """`update_agents=False`: the agents' view was already updated (a card callback returned the card)."""
        if update_agents:
            await self.notifiers.changed(session, "resolved")
        await self._tell_customer(session, t("resolved", session.language),
                                  dedup_key=f"resolved-{session.session_id}-{int(session.resolved_at)}")
        channel = self.channels.of(session)
        try:
            await channel.request_csat(session)
        except Exception as exc:
            log.error("desk.csat_request_failed", session_id=session.session_id, error=str(exc))

    async def return_to_bot(self, session_id: str, *, agent_id: str = "", notify: bool = True) -> Session:
        session = await self.sessions.transition(session_id, "bot", held_by=agent_id, agent_id="", agent_name="",
                                                 failed_attempts=0, escalate_reason="")
        log.info("desk.returned_to_bot", session_id=session_id)
        if notify:
            await self.after_return(session)
        return session

    async def after_return(self, session: Session, *, update_agents: bool = True) -> None:
        """`update_agents=False`: the agents' view was already updated (a card callback returned the card)."""
        if update_agents:
            await self.notifiers.changed(session, "returned")
        await self._tell_customer(session, t("returned_to_bot", session.language),
                                  dedup_key=f"returned-{session.session_id}-{int(session.updated_at)}")

    # -- conversation -------------------------------------------------------------------------------------

    async def send_to_customer(self, session_id: str, content: str, *, agent_id: str = "",
                               dedup_key: str = "") -> bool:
        """An agent's message: stored in the history, pushed where the channel can push. True when pushed.
        `dedup_key` (the agent's Feishu message id) keeps a retried relay from reaching the customer twice."""
        session = await self.sessions.get(session_id)
        if not session.with_human:
            raise TransitionRefused(session_id, "message", session.state, session.agent_id,
                                    f"the session is {session.state}: claim it before writing to the customer")
        if agent_id and session.agent_id and agent_id != session.agent_id:
            raise TransitionRefused(session_id, "message", session.state, session.agent_id,
                                    f"session {session_id} is handled by {session.agent_id}")
        await self.sessions.append(session_id, "agent", content, agent_id=agent_id or session.agent_id)
        return await self.channels.of(session).send_text(session, content, dedup_key=dedup_key)

    async def _tell_customer(self, session: Session, text: str, *, dedup_key: str = "") -> None:
        await self.sessions.append(session.session_id, "assistant", text)
        try:
            await self.channels.of(session).send_text(session, text, dedup_key=dedup_key)
        except Exception as exc:
            log.error("desk.customer_unreachable", session_id=session.session_id, error=str(exc))

    # -- assists ------------------------------------------------------------------------------------------

    async def recommend(self, query: str, top_k: int = 3) -> list[dict[str, Any]]:
        return [self._recommendation(c) for c in (await self.retriever.search(query, top_k=top_k)).candidates[:top_k]]

    async def recommend_for(self, session: Session, top_k: int = 3) -> tuple[str, list[dict[str, Any]]]:
        """Knowledge for the whole conversation: the customer's recent questions read together, then each on
        its own, newest first; each reading contributes its best entries in turn. Returns (what was searched,
        entries)."""
        history = await self.sessions.history(session.session_id)
        asked = [str(h["content"]) for h in history
                 if h.get("role") == "user" and h.get("kind") not in ("csat", "feedback")
                 and not str(h.get("content", "")).startswith("[") and not _HUMAN_REQUEST.search(str(h["content"]))
                 ][-_SUGGEST_TURNS:]
        readings = list(dict.fromkeys([" ".join(asked), *reversed(asked)])) if asked else [session.summary]
        found: list[list[Any]] = []
        for query in (q for q in readings if q.strip()):
            found.append((await self.retriever.search(query, top_k=top_k)).candidates[:top_k])
        picked: dict[str, Any] = {}
        for rank in range(top_k):
            for candidates in found:
                if rank < len(candidates):
                    picked.setdefault(candidates[rank].key, candidates[rank])
        return " / ".join(asked) or session.summary, [self._recommendation(c) for c in list(picked.values())[:top_k]]

    @staticmethod
    def _recommendation(cand: Any) -> dict[str, Any]:
        hit = cand.hit
        return {"content": hit.answer if hit.answer else hit.text, "score": round(float(cand.score), 4),
                "source": hit.title or hit.source_id, "source_id": hit.source_id,
                "knowledge_type": hit.knowledge_type, "question": hit.question or "", "option": option_of(cand)}

    async def teach(self, session_id: str, option: dict[str, Any], *, agent_id: str) -> int:
        """An agent says this entry answers the customer: the wordings the bot could not answer in this
        conversation (and the last one it answered with another entry) become learned phrasings of it.
        Elliptical wordings ("还能退吗") mean nothing alone and are not learned. Returns how many were taught."""
        if self.learning is None or self.contexts is None or not option.get("key"):
            return 0
        session = await self.sessions.get(session_id)
        ctx = await self.contexts.load(session_id)
        wordings = list(ctx.unanswered)
        answered = ctx.answered.get("wording")
        if answered and (ctx.answered.get("entry") or {}).get("key") != option.get("key"):
            wordings.append(str(answered))  # the bot answered it with something else: a correction
        taught = 0
        for wording in dict.fromkeys(wordings):
            if FOLLOW_UP.search(wording) or len(cache_key_text(wording)) <= 4:
                continue
            if await self.learning.signal(wording, EntryRef.from_option(option), "agent", agent_id or "agent",
                                          customer=session.customer_id):
                taught += 1
        log.info("desk.taught", session_id=session_id, entry=option.get("key"), wordings=taught)
        return taught

    async def answer_with_entry(self, session_id: str, option: dict[str, Any], *, agent_id: str) -> tuple[bool, int]:
        """The agent sends a knowledge entry's answer to the customer and it teaches the customer's wordings.
        Returns (pushed to the customer, wordings taught)."""
        text = str(option.get("content") or "")
        if not text:
            hits = await self.retriever.store.entry_rows([(str(option.get("source_id", "")),
                                                           str(option.get("block_id", "")),
                                                           str(option.get("chunk_id", "")))])
            if not hits:
                raise ValueError("that knowledge entry no longer exists")
            text = hits[0].answer or hits[0].text
        delivered = await self.send_to_customer(session_id, text, agent_id=agent_id,
                                                dedup_key=f"entry-{session_id}-{option.get('key', '')}"[:64])
        return delivered, await self.teach(session_id, option, agent_id=agent_id)

    async def business_assist(self, query: str) -> dict[str, Any]:
        order_id = extract_order_id(query)
        if self.business is None:
            return {"scene": "unavailable", "reply": "no business backend is configured"}
        if not order_id:
            return {"scene": "need_order_id", "reply": t("ask_order_id", self.language)}
        try:
            order = await self.business.lookup_order(order_id)
        except BusinessUnavailable as exc:
            return {"scene": "backend_unavailable", "reply": t("business_unavailable", self.language),
                    "error": str(exc)}
        if order is None:
            return {"scene": "order_not_found", "reply": t("order_not_found", self.language, order_id=order_id),
                    "order_id": order_id}
        return {"scene": "order_status", "reply": describe_order(order, self.language), "order_id": order_id,
                "order": vars(order)}

    async def save_solution(self, session_id: str, question: str, solution: str, *, intent: str = "",
                            submitted_by: str = "") -> Solution:
        session = await self.sessions.get(session_id)
        return await self.reviews.submit(session.session_id, question, solution, intent=intent or session.intent,
                                         submitted_by=submitted_by or session.agent_id)

    async def record_csat(self, session_id: str, score: int, comment: str = "") -> None:
        if not 1 <= score <= 5:
            raise ValueError("a rating is 1 to 5")
        session = await self.sessions.get(session_id)
        if session.csat_score:
            raise ValueError("this conversation has been rated already")
        await self.sessions.update(session_id, csat_score=score, csat_comment=comment[:1000])
        await self.sessions.append(session_id, "user", f"CSAT {score}" + (f": {comment}" if comment else ""),
                                   kind="csat")
        await self.stats.add_csat(score)
        CSAT_SCORES.observe(score)
        log.info("desk.csat", session_id=session_id, score=score)
