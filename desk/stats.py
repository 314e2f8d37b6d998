"""Desk counters kept in Redis (so every process adds to the same numbers): answers, escalations, CSAT."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

_KEY = "larkdesk:desk:stats"


class DeskStats:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def count(self, name: str, by: int = 1) -> None:
        await self.redis.hincrby(_KEY, name, by)

    async def count_answer(self, decision: str) -> None:
        await self.redis.hincrby(_KEY, f"answers:{decision}", 1)

    @staticmethod
    def count_in(pipe: Any, name: str) -> None:
        """`count`, queued on a pipeline the caller executes (one round trip for the turn's writes)."""
        pipe.hincrby(_KEY, name, 1)

    @staticmethod
    def count_answer_in(pipe: Any, decision: str) -> None:
        DeskStats.count_in(pipe, f"answers:{decision}")

    async def add_csat(self, score: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(_KEY, "csat_count", 1)
            pipe.hincrby(_KEY, "csat_sum", score)
            pipe.hincrby(_KEY, f"csat:{score}", 1)
            await pipe.execute()

    async def snapshot(self) -> dict[str, Any]:
        raw = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in (await self.redis.hgetall(_KEY)).items()}
        answers = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("answers:")}
        count = raw.get("csat_count", 0)
        return {
            "answers": answers,
            "answers_total": sum(answers.values()),
            "escalations": raw.get("escalations", 0),
            "claims": raw.get("claims", 0),
            "resolutions": raw.get("resolutions", 0),
            "csat_count": count,
            "csat_average": round(raw.get("csat_sum", 0) / count, 2) if count else None,
        }
