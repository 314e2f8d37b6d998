"""When the bot hands a conversation to a human, why, and how urgently."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from desk.intent import Intent


@dataclass(frozen=True)
class Escalation:
    reason: str  # human_request, complaint, failed_answers, no_answer, menu
    priority: str  # urgent, high, normal, info


@dataclass(frozen=True)
class EscalationPolicy:
    max_failed_answers: int = 3
    escalate_on_no_answer: bool = False
    vip_ids: Collection[str] = frozenset()

    def before_answer(self, intent: Intent, customer_id: str) -> Escalation | None:
        """Escalations decided from the message alone: an explicit request or a complaint."""
        if intent.name == "human_request":
            return Escalation("human_request", self.priority(intent, customer_id, "human_request"))
        if intent.name == "complaint":
            return Escalation("complaint", self.priority(intent, customer_id, "complaint"))
        return None

    def after_no_answer(self, intent: Intent, customer_id: str, failed_attempts: int) -> Escalation | None:
        """The bot could not answer; `failed_attempts` already counts this one."""
        if self.escalate_on_no_answer:
            return Escalation("no_answer", self.priority(intent, customer_id, "no_answer"))
        if failed_attempts >= self.max_failed_answers:
            return Escalation("failed_answers", self.priority(intent, customer_id, "failed_answers"))
        return None

    def priority(self, intent: Intent, customer_id: str, reason: str) -> str:
        vip = customer_id in self.vip_ids
        if reason == "complaint":
            return "urgent" if intent.negative or intent.urgent or vip else "high"
        if intent.negative:
            return "urgent" if vip or intent.urgent else "high"
        if intent.urgent:  # 紧急 / 加急 / 12315: the customer said it cannot wait
            return "urgent" if vip else "high"
        if vip:
            return "high"
        if reason == "no_answer":
            return "info"  # the bot simply had no answer: any free agent, no rush
        return "normal"
