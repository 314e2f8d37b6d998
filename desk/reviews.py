"""Agents' solutions waiting for review; an approved one becomes knowledge of type `solution`."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis

from sync.models import Chunk, ParsedDocument

_ITEMS = "larkdesk:desk:reviews"
_PENDING = "larkdesk:desk:reviews:pending"


class ReviewNotFound(LookupError):
    pass


@dataclass
class Solution:
    review_id: str
    session_id: str
    question: str
    solution: str
    intent: str = ""
    submitted_by: str = ""
    status: str = "pending"  # pending, approved, rejected
    created_at: float = 0.0
    decided_by: str = ""
    source_id: str = ""  # the knowledge source once approved

    def document(self) -> ParsedDocument:
        source_id = f"solution:{self.review_id}"
        chunk = Chunk(source_id=source_id, text=f"{self.question}\n{self.solution}", knowledge_type="solution",
                      title=self.question, question=self.question, answer=self.solution,
                      metadata={"session_id": self.session_id})
        return ParsedDocument(source_id, self.question, [chunk], "solution", {"origin": f"review:{self.review_id}"})


class ReviewQueue:
    def __init__(self, redis: aioredis.Redis, kb: Any) -> None:
        self.redis = redis
        self.kb = kb

    async def submit(self, session_id: str, question: str, solution: str, *, intent: str = "",
                     submitted_by: str = "") -> Solution:
        question, solution = question.strip(), solution.strip()
        if not question or not solution:
            raise ValueError("a solution needs both a question and an answer")
        item = Solution(f"rv_{uuid.uuid4().hex[:12]}", session_id, question[:500], solution[:4000], intent,
                        submitted_by, created_at=time.time())
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_ITEMS, item.review_id, json.dumps(asdict(item), ensure_ascii=False))
            pipe.zadd(_PENDING, {item.review_id: item.created_at})
            await pipe.execute()
        return item

    async def get(self, review_id: str) -> Solution:
        raw = await self.redis.hget(_ITEMS, review_id)
        if raw is None:
            raise ReviewNotFound(f"no solution under review with id {review_id}")
        return Solution(**json.loads(raw))

    async def pending(self, limit: int = 20) -> list[Solution]:
        ids = await self.redis.zrange(_PENDING, 0, limit - 1)
        return [await self.get(i.decode() if isinstance(i, bytes) else i) for i in ids]

    async def approve(self, review_id: str, by: str = "") -> Solution:
        """Ingest the solution as knowledge, then mark it approved (a failed ingest leaves it pending)."""
        item = await self.get(review_id)
        if item.status != "pending":
            raise ValueError(f"solution {review_id} is already {item.status}")
        result = await self.kb.ingest_document(item.document(), validate_quality=False)
        item.status, item.decided_by, item.source_id = "approved", by, result.source_id
        await self._store_decided(item)
        return item

    async def reject(self, review_id: str, by: str = "") -> Solution:
        item = await self.get(review_id)
        if item.status != "pending":
            raise ValueError(f"solution {review_id} is already {item.status}")
        item.status, item.decided_by = "rejected", by
        await self._store_decided(item)
        return item

    async def _store_decided(self, item: Solution) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_ITEMS, item.review_id, json.dumps(asdict(item), ensure_ascii=False))
            pipe.zrem(_PENDING, item.review_id)
            await pipe.execute()
