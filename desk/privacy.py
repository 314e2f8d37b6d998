"""A customer's right to be forgotten, and the audit trail of who saw their personal data.

`forget_customer` erases every session of a customer (state, history, the kept phone numbers, card links, the
pending entry), the traces of those sessions, and whatever other stores plug in an eraser: a store that keeps
anything derived from a customer's words (e.g. learned phrasings) registers `async def erase(customer_id) -> int`
in `Desk.erasers` under its name, and /forget and `DELETE /api/v1/customers/{id}` call it too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from desk.sessions import SessionStore
from observability.masking import mask_value
from observability.traces import TraceStore

log = structlog.get_logger("desk.privacy")

# customer_id → how many items the store erased.
Eraser = Callable[[str], Awaitable[int]]

AUDIT_KEY = "larkdesk:desk:audit"
AUDIT_MAX = 10_000


@dataclass
class ForgetReport:
    customer_id: str
    session_ids: list[str]
    erased: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # eraser name → error: the caller must say so


async def forget_customer(customer_id: str, sessions: SessionStore, traces: TraceStore, *,
                          erasers: Mapping[str, Eraser] | None = None) -> ForgetReport:
    """Erase everything larkdesk keeps about `customer_id`. Every eraser runs even if one fails; failures are
    reported, never swallowed (a half-forgotten customer must be visible to the admin who asked)."""
    session_ids = await sessions.sessions_of(customer_id)
    report = ForgetReport(customer_id, session_ids)
    report.erased["traces"] = await traces.forget_sessions(session_ids)
    report.erased["sessions"] = await sessions.erase(customer_id, session_ids)
    for name, erase in (erasers or {}).items():
        try:
            report.erased[name] = int(await erase(customer_id))
        except Exception as exc:
            log.error("privacy.eraser_failed", eraser=name, error=f"{type(exc).__name__}: {exc}")
            report.failed[name] = f"{type(exc).__name__}: {exc}"
    await audit(sessions.redis, "forget", actor="", customer_id=customer_id, erased=report.erased,
                failed=sorted(report.failed))
    log.info("privacy.forgotten", customer_id=customer_id, erased=report.erased, failed=sorted(report.failed))
    return report


async def audit(redis: Any, action: str, *, actor: str, **details: Any) -> None:
    """One line of the audit trail (newest first, capped), e.g. an agent revealing a phone number."""
    entry = json.dumps(mask_value({"ts": round(time.time(), 3), "action": action, "actor": actor, **details}),
                       ensure_ascii=False, default=str)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.lpush(AUDIT_KEY, entry)
        pipe.ltrim(AUDIT_KEY, 0, AUDIT_MAX - 1)
        await pipe.execute()


async def audit_trail(redis: Any, limit: int = 100) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in await redis.lrange(AUDIT_KEY, 0, limit - 1)]
