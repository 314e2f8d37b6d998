"""What a conversation remembers between turns beyond its history: the topic, the entities, what was offered.

Kept next to the session in Redis (one JSON value, same lifetime), read once and written once per turn:
- `topic`: the last knowledge question of the conversation, so a follow-up ("需要提供什么凭证?") can be
  searched together with it;
- `order_id`: the last order number the customer gave, so "什么时候到呢" continues with it;
- `offer`: the did-you-mean buttons last shown and the wording they answered (a click is checked against
  them and teaches that wording, rag/learning.py);
- `answered`: the entry of the last direct answer and its wording ("this answered me" / "not helpful");
- `unanswered`: recent wordings the bot could not answer outright (an agent's pick teaches them);
- `urgent`: the customer used urgent wording at some point (raises the hand-over's priority);
- `last_text`, `repeats`: the same message sent again counts as a turn that did not help.
Every wording is masked before it is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from observability.masking import mask_text
from rag.normalize import cache_key_text

_KEY = "larkdesk:desk:ctx:{}"
_BY_CUSTOMER = "larkdesk:desk:ctx:customer:{}"  # customer → their sessions' contexts, for /forget
TOPIC_TTL_S = 30 * 60  # a topic older than this is not a follow-up's context any more
ORDER_TTL_S = 60 * 60
_UNANSWERED_MAX = 5


@dataclass
class TurnContext:
    topic: str = ""
    topic_at: float = 0.0
    order_id: str = ""
    order_at: float = 0.0
    offer: dict[str, Any] = field(default_factory=dict)  # {"wording", "options": [option], "at"}
    answered: dict[str, Any] = field(default_factory=dict)  # {"wording", "entry": option, "alternatives", "at"}
    unanswered: list[str] = field(default_factory=list)
    urgent: bool = False
    last_text: str = ""
    repeats: int = 0

    def recent_topic(self, now: float | None = None) -> str:
        return self.topic if self.topic and (now or time.time()) - self.topic_at < TOPIC_TTL_S else ""

    def recent_order(self, now: float | None = None) -> str:
        return self.order_id if self.order_id and (now or time.time()) - self.order_at < ORDER_TTL_S else ""

    def set_topic(self, text: str) -> None:
        self.topic, self.topic_at = mask_text(text)[:200], time.time()

    def set_order(self, order_id: str) -> None:
        self.order_id, self.order_at = order_id, time.time()

    def note_unanswered(self, text: str) -> None:
        wording = mask_text(text)[:200]
        if wording and wording not in self.unanswered:
            self.unanswered = [*self.unanswered, wording][-_UNANSWERED_MAX:]

    def note_message(self, text: str) -> bool:
        """Remember the message; True when it repeats the previous one (width, case and punctuation aside)."""
        key = cache_key_text(mask_text(text))
        repeated = bool(key) and key == self.last_text
        self.repeats = self.repeats + 1 if repeated else 0
        self.last_text = key[:200]
        return repeated


class ContextStore:
    def __init__(self, redis: aioredis.Redis, *, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def load(self, session_id: str) -> TurnContext:
        return self.parse(await self.redis.get(_KEY.format(session_id)))

    def queue_load(self, pipe: Any, session_id: str) -> None:
        """The same read, queued on a pipeline the caller executes; its reply goes to `parse`."""
        pipe.get(_KEY.format(session_id))

    @staticmethod
    def parse(raw: Any) -> TurnContext:
        if not raw:
            return TurnContext()
        try:
            data = json.loads(raw)
            return TurnContext(**{k: v for k, v in data.items() if k in TurnContext.__dataclass_fields__})
        except (ValueError, TypeError):
            return TurnContext()  # an unreadable context is an empty one, never a failed turn

    async def save(self, session_id: str, ctx: TurnContext, *, customer_id: str = "") -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_save(pipe, session_id, ctx, customer_id=customer_id)
            await pipe.execute()

    def queue_save(self, pipe: Any, session_id: str, ctx: TurnContext, *, customer_id: str = "") -> None:
        # vars(), not asdict(): the fields are plain JSON values already, and asdict deep-copies them.
        pipe.set(_KEY.format(session_id), json.dumps(vars(ctx), ensure_ascii=False), ex=self.ttl_s)
        if customer_id:
            pipe.sadd(_BY_CUSTOMER.format(customer_id), session_id)
            pipe.expire(_BY_CUSTOMER.format(customer_id), self.ttl_s)

    async def forget_customer(self, customer_id: str) -> int:
        """Erase the contexts of a customer's sessions (their topic, wordings, order number)."""
        index = _BY_CUSTOMER.format(customer_id)
        ids = [i.decode() if isinstance(i, bytes) else i for i in await self.redis.smembers(index)]
        if ids:
            await self.redis.delete(*[_KEY.format(i) for i in ids])
        await self.redis.delete(index)
        return len(ids)
