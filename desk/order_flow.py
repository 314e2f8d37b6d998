"""Slot filling for order questions: collect the order number and the problem, then ask the business backend.

The flow lives in the session (`flow`, `slots`, `flow_updated_at`), so it survives restarts and any worker
can continue it. A flow left unanswered longer than the idle limit is reset and the customer is told.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from config.messages import t
from desk.business import BusinessBackend, BusinessUnavailable, describe_order, extract_order_id
from desk.sessions import Session

log = structlog.get_logger("desk.order_flow")

FLOW = "order_query"
_CANCEL = re.compile(r"^(取消|算了|不用了|不查了|cancel|never mind|stop)[!！。.\s]*$", re.IGNORECASE)
_FILLER = re.compile(r"[\s,，。.!！?？:：#]|订单号?|单号|order( number| no\.?)?|是|is", re.IGNORECASE)


@dataclass
class FlowStep:
    reply: str
    slots: dict[str, Any] = field(default_factory=dict)
    active: bool = True  # still collecting
    resolved: bool = False  # the backend answered
    failed: bool = False  # the bot could not help (unknown order, backend down)
    order: dict[str, Any] | None = None


def _problem_in(text: str, order_id: str | None) -> str:
    rest = text.replace(order_id, " ") if order_id else text
    return text.strip() if len(_FILLER.sub("", rest)) >= 2 else ""


class OrderFlow:
    def __init__(self, backend: BusinessBackend, *, idle_s: float = 600, language: str = "zh-CN") -> None:
        self.backend = backend
        self.idle_s = idle_s
        self.language = language

    def expired(self, session: Session, now: float | None = None) -> bool:
        return bool(session.flow) and (now or time.time()) - session.flow_updated_at > self.idle_s

    def in_progress(self, session: Session) -> bool:
        return session.flow == FLOW

    def left_behind(self, session: Session, text: str) -> bool:
        """Asked for an order number, the customer wrote something else: drop the flow, treat it anew."""
        return self.in_progress(session) and not session.slots.get("order_id") and not extract_order_id(text) \
            and not _CANCEL.match(text.strip())

    async def step(self, session: Session, text: str, *, known_order_id: str = "",
                   repeated: bool = False) -> FlowStep:
        """`known_order_id`: the order the conversation is about ("什么时候到呢" after "订单…到哪了").
        A turn that cannot progress fails (and the conversation hands over after repeated failures): the
        same message again or still no order number after two asks end the flow; an order the backend does
        not find gets one more try, a second one ends the flow."""
        lang = session.language or self.language
        if self.in_progress(session) and _CANCEL.match(text.strip()):
            return FlowStep(t("flow_cancelled", lang), active=False)
        slots = dict(session.slots) if self.in_progress(session) else {}
        order_id = extract_order_id(text)
        if order_id:
            slots["order_id"] = order_id
        elif not slots.get("order_id") and known_order_id:
            slots["order_id"] = known_order_id
        problem = _problem_in(text, order_id)
        if problem and not slots.get("problem"):
            slots["problem"] = problem
        if not slots.get("order_id"):
            asks = int(slots.get("asks", 0))
            if repeated or asks >= 2:
                return FlowStep(t("order_id_missing", lang), {}, active=False, failed=True)
            return FlowStep(t("ask_order_id", lang), {**slots, "asks": asks + 1})
        if not slots.get("problem"):
            if repeated:
                return FlowStep(t("order_id_missing", lang), {}, active=False, failed=True)
            return FlowStep(t("ask_order_problem", lang, order_id=slots["order_id"]), slots)
        try:
            order = await self.backend.lookup_order(slots["order_id"])
        except BusinessUnavailable as exc:
            log.warning("order_flow.backend_unavailable", backend=self.backend.name, error=str(exc))
            return FlowStep(t("business_unavailable", lang), slots, active=False, failed=True)
        if order is None:  # a typo gets one more chance in the flow; a second unknown number ends it
            missing = slots.pop("order_id")
            misses = int(slots.get("misses", 0)) + 1
            return FlowStep(t("order_not_found", lang, order_id=missing), {**slots, "misses": misses},
                            active=misses < 2, failed=True)
        return FlowStep(describe_order(order, lang), slots, active=False, resolved=True,
                        order=order.__dict__ if hasattr(order, "__dict__") else dict(order))
