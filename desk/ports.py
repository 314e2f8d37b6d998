"""How the desk reaches people, whatever the channel: agents (the Feishu agent group, the REST desk) and
customers (a Feishu chat, a web widget). Channels implement these; the desk calls every one registered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import structlog

from desk.sessions import Session

log = structlog.get_logger("desk.ports")


class AgentNotifier(Protocol):
    async def escalated(self, session: Session, history: Sequence[dict[str, Any]]) -> None:
        """A session waits for an agent (first time, or an SLA re-alert when `session.alerts` > 0)."""

    async def changed(self, session: Session, event: str) -> None:
        """`claimed`, `resolved`, `returned`, `realerted`: show the session's new state to agents."""

    async def customer_message(self, session: Session, text: str) -> None:
        """The customer wrote while an agent has (or is about to have) the conversation."""


class CustomerChannel(Protocol):
    async def send_text(self, session: Session, text: str, *, dedup_key: str = "") -> bool:
        """Deliver a message from the desk; False when this channel cannot push (the customer polls).
        The same `dedup_key` never delivers twice (a retried event)."""

    async def request_csat(self, session: Session) -> bool:
        """Ask for a 1-5 rating after a resolution."""


class Notifiers:
    """Fan-out to every registered agent notifier; one failing never stops the others."""

    def __init__(self) -> None:
        self.items: list[AgentNotifier] = []

    def add(self, notifier: AgentNotifier) -> None:
        self.items.append(notifier)

    async def escalated(self, session: Session, history: Sequence[dict[str, Any]]) -> bool:
        return await self._each("escalated", session, history)

    async def changed(self, session: Session, event: str) -> bool:
        return await self._each("changed", session, event)

    async def customer_message(self, session: Session, text: str) -> bool:
        return await self._each("customer_message", session, text)

    async def _each(self, method: str, *args: Any) -> bool:
        ok = True
        for notifier in self.items:
            try:
                await getattr(notifier, method)(*args)
            except Exception as exc:
                ok = False
                log.error("desk.notifier_failed", notifier=type(notifier).__name__, method=method, error=str(exc))
        return ok


class StoredOnly:
    """Channels without push (web, app): what the desk says is in the session history they read."""

    async def send_text(self, session: Session, text: str, *, dedup_key: str = "") -> bool:
        return False

    async def request_csat(self, session: Session) -> bool:
        return False


class Channels:
    def __init__(self) -> None:
        self._by_name: dict[str, CustomerChannel] = {}
        self._default = StoredOnly()

    def add(self, name: str, channel: CustomerChannel) -> None:
        self._by_name[name] = channel

    def of(self, session: Session) -> CustomerChannel:
        return self._by_name.get(session.channel, self._default)
