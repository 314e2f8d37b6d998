"""The SLA job: pending sessions waiting longer than the SLA are re-alerted with a higher priority, and a
session whose card never reached the agent group (Feishu was down) gets it posted now."""

from __future__ import annotations

import time

import structlog

from desk.hours import WorkingHours
from desk.ports import Notifiers
from desk.sessions import SessionStore, bump_priority
from observability.metrics import SESSIONS_PENDING

log = structlog.get_logger("desk.sla")


class SlaWatcher:
    def __init__(self, sessions: SessionStore, notifiers: Notifiers, *, sla_s: float, hours: WorkingHours) -> None:
        self.sessions = sessions
        self.notifiers = notifiers
        self.sla_s = sla_s
        self.hours = hours

    async def run_once(self, now: float | None = None) -> int:
        """Re-alerts sent. Safe to run in several processes: each alert is claimed once in Redis."""
        now = now or time.time()
        pending = await self.sessions.pending(limit=500)
        SESSIONS_PENDING.set(len(pending))
        alerted = 0
        for session in pending:
            redis, sid = self.sessions.redis, session.session_id
            if not session.card_message_id:
                if await redis.set(f"larkdesk:desk:repost:{sid}", "1", nx=True, ex=60):
                    await self.notifiers.escalated(session, await self.sessions.history(sid))
                continue
            due = session.escalated_at + self.sla_s * (session.alerts + 1)
            if now < due or not self.hours.is_open():
                continue  # outside working hours nobody is there to alert; customers were told when
            if not await redis.set(f"larkdesk:desk:alert:{sid}:{session.alerts + 1}", "1", nx=True,
                                   ex=int(self.sla_s * 2) + 60):
                continue
            session.priority, session.alerts = bump_priority(session.priority), session.alerts + 1
            await self.sessions.reprioritize(session, session.priority, alerts=session.alerts)
            await self.notifiers.escalated(session, await self.sessions.history(sid))
            alerted += 1
            log.info("sla.realerted", session_id=sid, priority=session.priority, alerts=session.alerts)
        return alerted
