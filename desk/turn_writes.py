"""The writes one turn makes on its way, sent in one round trip with its reply.

A turn changes a few session fields (intent, failed answers, the order flow), counts its decision in the desk
stats and saves the conversation context. Sent one at a time these were up to four Redis round trips more per
turn: a cached turn cost 2.6–3.4 ms of server CPU instead of 1.9–2.3 (benchmarks/chat_api.py). Queued here,
they ride on the pipeline that appends the reply to the history (a hand-over's ride on the read of the history
before its state changes). `Conversation` opens one per turn in a context variable, so two turns running at
once never share one, and flushes whatever is left when the turn ends, so a turn that ends without a reply (or
with an error) loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from desk.context import ContextStore, TurnContext
from desk.sessions import SessionStore
from desk.stats import DeskStats


class TurnWrites:
    def __init__(self, sessions: SessionStore, contexts: ContextStore) -> None:
        self.sessions = sessions
        self.contexts = contexts
        self._fields: dict[str, dict[str, Any]] = {}  # session id → fields to set
        self._counts: list[str] = []  # desk stats counters to add one to
        self._context: tuple[str, TurnContext, str] | None = None  # (session id, context, customer id)
        self._context_dirty = False

    def update(self, session_id: str, **values: Any) -> None:
        self._fields.setdefault(session_id, {}).update(values)

    def count(self, name: str) -> None:
        self._counts.append(name)

    def count_answer(self, decision: str) -> None:
        self.count(f"answers:{decision}")

    def keep_context(self, session_id: str, ctx: TurnContext, customer_id: str) -> None:
        """Save `ctx` with the turn's next write (and at its end), whatever it holds by then."""
        self._context, self._context_dirty = (session_id, ctx, customer_id), True

    @property
    def pending(self) -> bool:
        return bool(self._fields or self._counts or self._context_dirty)

    @property
    def queued(self) -> Callable[[Any], None] | None:
        """What to pass as `also` to the next pipeline: `queue`, or None when nothing is pending."""
        return self.queue if self.pending else None

    def queue(self, pipe: Any) -> None:
        """Add everything pending to `pipe` (which the caller executes) and forget it."""
        for session_id, values in self._fields.items():
            self.sessions.queue_update(pipe, session_id, values)
        for name in self._counts:
            DeskStats.count_in(pipe, name)
        if self._context is not None and self._context_dirty:
            session_id, ctx, customer_id = self._context
            self.contexts.queue_save(pipe, session_id, ctx, customer_id=customer_id)
        self._fields, self._counts, self._context_dirty = {}, [], False

    async def flush(self) -> None:
        if not self.pending:
            return
        async with self.sessions.redis.pipeline(transaction=False) as pipe:
            self.queue(pipe)
            await pipe.execute()


current_writes: ContextVar[TurnWrites | None] = ContextVar("larkdesk_turn_writes", default=None)
