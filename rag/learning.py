"""Learning from use: a customer's wording becomes a learned phrasing of the entry that answered it.

Signals, each counted once per actor and phrasing:
- `click`: the customer clicked that entry among the did-you-mean buttons the bot offered (+1);
- `helpful`: "this answered me" on an answer (+1);
- `agent`: an agent resolved the customer's hand-over with that entry, or saved it as a solution
  (+`auto_approve`: agents are trusted);
- `not_helpful`: "not helpful" on an answer (−1, and the bot no longer answers that wording with that entry
  outright: `negatives`).

A phrasing whose score reaches `auto_approve` (LEARN_AUTO_APPROVE_SIGNALS) becomes active by itself; below
that it waits in the review list (admins approve or remove it: `/learned`, `GET /api/v1/knowledge/learned`).
An active phrasing is a row of the vector store (`knowledge_type="learned"`, source `learned:phrasings`)
indexed like an FAQ's similar question, so the next customer who words it that way finds the entry; retrieval
folds it back into its entry (rag/retrieval.py). Everything is traceable: each phrasing keeps its signals
(kind, when, a hash of who) and lists the customers it came from, so `forget_customer` erases their part.
Wordings are masked (phone, ID and card numbers) and digit runs generalized before they are stored.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import redis.asyncio as aioredis
import structlog

from observability.masking import mask_text
from observability.metrics import LEARNED_SIGNALS
from rag.cache import KnowledgeVersion
from rag.embedders import Embedder
from rag.embedders.pool import run_embedding
from rag.normalize import cache_key_text
from rag.retrieval import LEARNED_TYPE
from rag.store import KnowledgeStore
from sync.models import Chunk

log = structlog.get_logger("rag.learning")

SignalKind = Literal["click", "helpful", "agent", "not_helpful"]
Status = Literal["pending", "active", "removed"]
LEARNED_SOURCE = "learned:phrasings"

_P = "larkdesk:learn:p:"  # phrasing id → JSON
_INDEX = "larkdesk:learn:index"  # zset of phrasing ids by last change
_BY_CUSTOMER = "larkdesk:learn:customer:"  # customer → set of phrasing ids
_NEG = "larkdesk:learn:neg:"  # wording digest → hash entry key → "not helpful" count
_DAILY = "larkdesk:learn:daily:"  # customer:day → new phrasings counted against the daily cap
_DIGITS = re.compile(r"\d{5,}")
_NEG_TTL_S = 90 * 24 * 3600


@dataclass(frozen=True)
class EntryRef:
    """The knowledge entry a phrasing points at: an FAQ entry (source + block) or a passage (chunk id)."""

    key: str
    source_id: str
    block_id: str = ""
    chunk_id: str = ""
    label: str = ""  # the FAQ question or the passage's title/heading, for people reading the list
    knowledge_type: str = "faq"

    @classmethod
    def from_option(cls, option: dict[str, Any]) -> EntryRef:
        """From the option dict the answer layer hands out (rag/answer.py option_of) and cards carry."""
        return cls(str(option.get("key", "")), str(option.get("source_id", "")), str(option.get("block_id", "")),
                   str(option.get("chunk_id", "")), str(option.get("label", "")),
                   str(option.get("knowledge_type", "")))

    @classmethod
    def of(cls, cand: Any) -> EntryRef:
        hit = cand.hit
        label = hit.question or " > ".join(x for x in (hit.title, hit.heading_path) if x) or hit.text[:60]
        return cls(cand.key, hit.source_id, hit.block_id, hit.id, label, hit.knowledge_type)


@dataclass
class Phrasing:
    id: str
    wording: str
    entry: EntryRef
    status: Status = "pending"
    score: int = 0
    signals: list[dict[str, Any]] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Phrasing:
        return cls(**{**data, "entry": EntryRef(**data["entry"])})

    def chunk(self) -> Chunk:
        # search_text carries the entry's label too: BM25 then meets the customer's words and the entry's.
        return Chunk(source_id=LEARNED_SOURCE, text=self.wording, knowledge_type=LEARNED_TYPE, block_id=self.id,
                     question=self.wording, search_text=f"{self.wording}\n{self.entry.label}",
                     metadata={"entry": self.entry.key, "entry_source": self.entry.source_id,
                               "entry_block": self.entry.block_id, "entry_chunk": self.entry.chunk_id})


def clean_wording(text: str) -> str:
    """What is stored of a customer's words: masked, long numbers (orders, amounts) generalized, trimmed."""
    return _DIGITS.sub("#", mask_text(" ".join(str(text).split())))[:200]


def _digest(text: str) -> str:
    return hashlib.sha1(cache_key_text(text).encode()).hexdigest()[:20]


def _actor_hash(actor: str) -> str:
    return hashlib.sha1(f"larkdesk-actor\x1f{actor}".encode()).hexdigest()[:12]


class LearnedPhrasings:
    def __init__(self, redis: aioredis.Redis, store: KnowledgeStore, embedder: Embedder,
                 version: KnowledgeVersion | None = None, *, auto_approve: int = 1,
                 max_new_per_customer_day: int = 30) -> None:
        self.redis = redis
        self.store = store
        self.embedder = embedder
        self.version = version
        self.auto_approve = max(1, auto_approve)
        self.max_new_per_customer_day = max_new_per_customer_day

    # -- signals -------------------------------------------------------------------------------------------

    async def signal(self, wording: str, entry: EntryRef, kind: SignalKind, actor: str, *,
                     customer: str = "") -> Phrasing | None:
        """Record one signal for (wording → entry). Returns the phrasing, or None when nothing is learned
        (an empty or too short wording, the wording is the entry's own question, or the daily cap)."""
        text = clean_wording(wording)
        if len(cache_key_text(text)) < 2 or cache_key_text(text) == cache_key_text(entry.label):
            return None
        LEARNED_SIGNALS.labels(kind).inc()
        if kind == "not_helpful":
            neg = _NEG + _digest(text)
            await self.redis.hincrby(neg, entry.key, 1)
            await self.redis.expire(neg, _NEG_TTL_S)
            if self.version is not None:
                await self.version.bump()  # a cached answer of this wording must not be served again
        pid = hashlib.sha1(f"{cache_key_text(text)}\x1f{entry.key}".encode()).hexdigest()[:16]
        phrasing = await self.get(pid)
        now = time.time()
        if phrasing is None:
            if kind == "not_helpful":
                return None  # nothing learned to lower: the negative pairing above is the record
            if customer and not await self._within_daily_cap(customer):
                log.warning("learning.daily_cap", customer=_actor_hash(customer))
                return None
            phrasing = Phrasing(pid, text, entry, created_at=now)
        who = _actor_hash(actor)
        if any(s.get("actor") == who and s.get("kind") == kind for s in phrasing.signals):
            return phrasing  # one voice per actor and kind
        weight = {"click": 1, "helpful": 1, "agent": self.auto_approve, "not_helpful": -1}[kind]
        phrasing.score += weight
        phrasing.signals.append({"kind": kind, "actor": who, "at": round(now, 3)})
        phrasing.signals = phrasing.signals[-50:]
        if customer and customer not in phrasing.customers:
            phrasing.customers.append(customer)
        phrasing.updated_at = now
        before = phrasing.status
        if phrasing.status != "removed":
            phrasing.status = "active" if phrasing.score >= self.auto_approve else "pending"
        await self._save(phrasing)
        if customer:
            await self.redis.sadd(_BY_CUSTOMER + customer, pid)
        await self._apply(phrasing, before)
        log.info("learning.signal", kind=kind, phrasing=pid, entry=entry.key, score=phrasing.score,
                 status=phrasing.status)
        return phrasing

    async def negatives(self, wording: str) -> dict[str, int]:
        """Entries customers said did not answer this wording (entry key → count)."""
        raw = await self.redis.hgetall(_NEG + _digest(clean_wording(wording)))
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}

    # -- review --------------------------------------------------------------------------------------------

    async def get(self, pid: str) -> Phrasing | None:
        raw = await self.redis.get(_P + pid)
        return Phrasing.from_dict(json.loads(raw)) if raw else None

    async def list(self, status: Status | None = None, limit: int = 100) -> list[Phrasing]:
        ids = await self.redis.zrevrange(_INDEX, 0, -1)
        out: list[Phrasing] = []
        for raw_id in ids:
            phrasing = await self.get(raw_id.decode() if isinstance(raw_id, bytes) else raw_id)
            if phrasing is not None and (status is None or phrasing.status == status):
                out.append(phrasing)
                if len(out) >= limit:
                    break
        return out

    async def approve(self, pid: str, by: str) -> Phrasing:
        phrasing = await self._existing(pid)
        before = phrasing.status
        phrasing.status = "active"
        phrasing.score = max(phrasing.score, self.auto_approve)
        phrasing.signals.append({"kind": "approved", "actor": _actor_hash(by), "at": round(time.time(), 3)})
        phrasing.updated_at = time.time()
        await self._save(phrasing)
        await self._apply(phrasing, before)
        return phrasing

    async def remove(self, pid: str, by: str) -> Phrasing:
        """Removed phrasings stay listed (status `removed`) so the same signal cannot quietly bring them back."""
        phrasing = await self._existing(pid)
        before = phrasing.status
        phrasing.status = "removed"
        phrasing.signals.append({"kind": "removed", "actor": _actor_hash(by), "at": round(time.time(), 3)})
        phrasing.updated_at = time.time()
        await self._save(phrasing)
        await self._apply(phrasing, before)
        return phrasing

    async def forget_customer(self, customer: str) -> int:
        """Erase what a customer contributed: their signals; phrasings only they supported are deleted."""
        key = _BY_CUSTOMER + customer
        ids = [i.decode() if isinstance(i, bytes) else i for i in await self.redis.smembers(key)]
        erased = 0
        for pid in ids:
            phrasing = await self.get(pid)
            if phrasing is None:
                continue
            who = _actor_hash(customer)
            phrasing.customers = [c for c in phrasing.customers if c != customer]
            phrasing.signals = [s for s in phrasing.signals if s.get("actor") != who]
            before = phrasing.status
            if not phrasing.customers:
                phrasing.status = "removed"
                await self._apply(phrasing, before)
                await self.redis.delete(_P + pid)
                await self.redis.zrem(_INDEX, pid)
            else:
                await self._save(phrasing)
            erased += 1
        await self.redis.delete(key)
        return erased

    # -- storage -------------------------------------------------------------------------------------------

    async def _existing(self, pid: str) -> Phrasing:
        phrasing = await self.get(pid)
        if phrasing is None:
            raise KeyError(f"no learned phrasing {pid}")
        return phrasing

    async def _save(self, phrasing: Phrasing) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(_P + phrasing.id, json.dumps(phrasing.to_dict(), ensure_ascii=False))
            pipe.zadd(_INDEX, {phrasing.id: phrasing.updated_at})
            await pipe.execute()

    async def _within_daily_cap(self, customer: str) -> bool:
        key = f"{_DAILY}{customer}:{time.strftime('%Y%m%d')}"
        count = await self.redis.incr(key)
        if count == 1:
            await self.redis.expire(key, 2 * 24 * 3600)
        return count <= self.max_new_per_customer_day

    async def _apply(self, phrasing: Phrasing, before: str) -> None:
        """Keep the vector store in step: an active phrasing is a row, anything else is not."""
        chunk = phrasing.chunk()
        if phrasing.status == "active" and before != "active":
            vector = await run_embedding(self.embedder.embed_queries, [phrasing.wording])
            await self.store.upsert([chunk], np.asarray(vector, dtype=np.float32))
        elif phrasing.status != "active" and before == "active":
            await self.store.delete(LEARNED_SOURCE, [chunk.id])
        else:
            return
        if self.version is not None:
            await self.version.bump()  # cached answers may now be wrong for similar wordings

