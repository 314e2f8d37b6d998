"""Conversations in Redis: one session per customer and chat, its bounded history, and atomic state changes.

States: `bot` (the bot answers) → `pending` (waiting for an agent) → `claimed` (an agent talks) → `resolved`;
the next question of a resolved session starts over in `bot`. Every change of state is one Lua script that
checks the current state (and, where it matters, the agent) before writing, so two agents clicking Claim
at once cannot both win and a stale click cannot resolve a session someone else owns.

Privacy: what is stored is masked (observability/masking.py): history entries, the summary, notes, comments,
names and slots. Everything expires `ttl_s` (DESK_SESSION_TTL_S) after the last change. With `reveal_phone`
(DESK_REVEAL_PHONE) a customer's own mobile numbers are also kept, apart and unmasked, for an agent to reveal on
demand; `erase` forgets every key of a session.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import redis.asyncio as aioredis

from observability.masking import mask_text, mask_value, phone_numbers

State = Literal["bot", "pending", "claimed", "resolved"]
Priority = Literal["urgent", "high", "normal", "info"]
PRIORITIES: tuple[Priority, ...] = ("info", "normal", "high", "urgent")  # ascending

# Which state may follow which. Anything else is refused with the reason.
TRANSITIONS: dict[str, frozenset[str]] = {
    "bot": frozenset({"pending"}),
    "pending": frozenset({"claimed", "bot", "resolved"}),
    "claimed": frozenset({"resolved", "bot"}),
    "resolved": frozenset({"bot"}),
}

_PREFIX = "larkdesk:desk"
# Session fields that may hold what a customer or agent wrote: masked before they are stored.
_TEXT_FIELDS = frozenset({"summary", "resolve_note", "csat_comment", "customer_name", "slots"})

# KEYS: session hash, pending index. ARGV: session id, allowed "from" states (comma list), new state,
# required agent ("" = anyone), pending score ("" = not pending), then field/value pairs to set.
_TRANSITION = """
local unpack = unpack or table.unpack
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing', '', ''} end
local agent = redis.call('HGET', KEYS[1], 'agent_id') or ''
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == state then allowed = true end
end
if not allowed then return {'refused', state, agent, redis.call('HGETALL', KEYS[1])} end
if ARGV[4] ~= '' and agent ~= ARGV[4] then return {'not_owner', state, agent, redis.call('HGETALL', KEYS[1])} end
local pairs_ = {}
for i = 6, #ARGV do pairs_[#pairs_ + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], 'state', ARGV[3], unpack(pairs_))
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return {'ok', state, agent, redis.call('HGETALL', KEYS[1])}
"""


class SessionNotFound(LookupError):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id} not found")
        self.session_id = session_id


class TransitionRefused(Exception):
    """An illegal or lost state change; `reason` says why in words an agent or API client can act on.
    `session` is the session as it was when refused (None when not read)."""

    def __init__(self, session_id: str, wanted: str, current: str, agent_id: str, reason: str,
                 session: Session | None = None) -> None:
        super().__init__(reason)
        self.session = session
        self.session_id = session_id
        self.wanted = wanted
        self.current = current
        self.agent_id = agent_id
        self.reason = reason


@dataclass
class Session:
    session_id: str
    channel: str  # "feishu", "web", "app", ...
    customer_id: str
    chat_id: str = ""  # the Feishu chat the customer writes in
    customer_name: str = ""
    language: str = "zh-CN"
    state: str = "bot"
    intent: str = ""
    priority: str = "normal"
    failed_attempts: int = 0
    agent_id: str = ""
    agent_name: str = ""
    escalate_reason: str = ""
    summary: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    escalated_at: float = 0.0
    claimed_at: float = 0.0
    resolved_at: float = 0.0
    alerts: int = 0  # SLA re-alerts sent
    card_message_id: str = ""  # the escalation card in the agent group
    resolve_note: str = ""
    csat_score: int = 0
    csat_comment: str = ""
    flow: str = ""  # a slot-filling flow in progress
    slots: dict[str, Any] = field(default_factory=dict)
    flow_updated_at: float = 0.0

    @property
    def waiting_s(self) -> float:
        return max(0.0, time.time() - self.escalated_at) if self.state == "pending" and self.escalated_at else 0.0

    @property
    def with_human(self) -> bool:
        return self.state in ("pending", "claimed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"waiting_s": round(self.waiting_s, 1)}

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Session:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            if f.name == "slots":
                values[f.name] = json.loads(value or "{}")
            elif f.type == "int":
                values[f.name] = int(float(value or 0))
            elif f.type == "float":
                values[f.name] = float(value or 0)
            else:
                values[f.name] = value
        return cls(**values)


def _encode(values: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        if key in _TEXT_FIELDS:
            value = mask_value(value)
        out[key] = json.dumps(value, ensure_ascii=False) if key == "slots" else str(value)
    return out


def pending_score(priority: str, escalated_at: float) -> float:
    """Highest priority first, then who waited longest (the index is read highest score first)."""
    rank = PRIORITIES.index(priority) if priority in PRIORITIES else 1
    return rank * 1e10 + (1e10 - escalated_at)


def bump_priority(priority: str) -> str:
    rank = PRIORITIES.index(priority) if priority in PRIORITIES else 1
    return PRIORITIES[min(rank + 1, len(PRIORITIES) - 1)]


class SessionStore:
    def __init__(self, redis: aioredis.Redis, *, history_max: int = 30, ttl_s: int = 7 * 24 * 3600,
                 reveal_phone: bool = False) -> None:
        self.redis = redis
        self.history_max = history_max
        self.ttl_s = ttl_s
        self.reveal_phone = reveal_phone
        self._transition = redis.register_script(_TRANSITION)
        self.pending_key = f"{_PREFIX}:pending"

    # -- keys ---------------------------------------------------------------------------------------------

    def _key(self, session_id: str) -> str:
        return f"{_PREFIX}:session:{session_id}"

    def _history_key(self, session_id: str) -> str:
        return f"{_PREFIX}:session:{session_id}:history"

    def _customer_key(self, channel: str, chat_id: str, customer_id: str) -> str:
        return f"{_PREFIX}:customer:{channel}:{chat_id}:{customer_id}"

    def _card_key(self, message_id: str) -> str:
        return f"{_PREFIX}:card:{message_id}"

    def _contact_key(self, session_id: str) -> str:
        return f"{_PREFIX}:session:{session_id}:contact"

    def _sessions_of_key(self, customer_id: str) -> str:
        return f"{_PREFIX}:customer_sessions:{customer_id}"

    # -- sessions -----------------------------------------------------------------------------------------

    async def create(self, channel: str, customer_id: str, *, chat_id: str = "", customer_name: str = "",
                     language: str = "zh-CN") -> Session:
        now = time.time()
        session = Session(f"s_{uuid.uuid4().hex[:20]}", channel, customer_id, chat_id=chat_id,
                          customer_name=customer_name, language=language, created_at=now, updated_at=now)
        values = _encode(asdict(session))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(session.session_id), mapping=values)
            pipe.expire(self._key(session.session_id), self.ttl_s)
            pipe.set(self._customer_key(channel, chat_id, customer_id), session.session_id, ex=self.ttl_s)
            pipe.sadd(self._sessions_of_key(customer_id), session.session_id)  # what /forget erases
            pipe.expire(self._sessions_of_key(customer_id), self.ttl_s)
            await pipe.execute()
        session.customer_name = mask_text(customer_name)
        return session

    async def for_customer(self, channel: str, customer_id: str, *, chat_id: str = "", customer_name: str = "",
                           language: str = "zh-CN") -> Session:
        """The customer's session in this chat, created on first contact."""
        session_id = await self.redis.get(self._customer_key(channel, chat_id, customer_id))
        if session_id:
            session = await self.find(_str(session_id))
            if session is not None:
                return session
        return await self.create(channel, customer_id, chat_id=chat_id, customer_name=customer_name,
                                 language=language)

    async def find(self, session_id: str) -> Session | None:
        raw = await self.redis.hgetall(self._key(session_id))
        if not raw:
            return None
        return Session.from_hash({_str(k): _str(v) for k, v in raw.items()})

    async def get(self, session_id: str) -> Session:
        session = await self.find(session_id)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    async def update(self, session_id: str, **values: Any) -> None:
        """Plain field updates that do not change the state (counters, intent, slots, card ids)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            self.queue_update(pipe, session_id, values)
            await pipe.execute()

    def queue_update(self, pipe: Any, session_id: str, values: dict[str, Any]) -> None:
        """The same update, queued on a pipeline the caller executes (desk/turn_writes.py)."""
        key = self._key(session_id)
        pipe.hset(key, mapping=_encode({**values, "updated_at": time.time()}))
        pipe.expire(key, self.ttl_s)
        pipe.expire(self._history_key(session_id), self.ttl_s)

    async def transition(self, session_id: str, to: str, *, from_states: Iterable[str] | None = None,
                         held_by: str = "", **values: Any) -> Session:
        """Move to `to` atomically, or raise TransitionRefused saying why.

        `from_states` narrows the states allowed before (default: all that may lead to `to`); `held_by`
        requires the session to be held by that agent (resolving or returning someone else's session).
        """
        allowed = [s for s, targets in TRANSITIONS.items() if to in targets]
        if from_states is not None:
            allowed = [s for s in allowed if s in set(from_states)]
        now = time.time()
        values = {**values, "updated_at": now}
        score = ""
        if to == "pending":
            escalated_at = float(values.setdefault("escalated_at", now))
            score = str(pending_score(str(values.get("priority", "normal")), escalated_at))
        flat: list[str] = []
        for key, value in _encode(values).items():
            flat += [key, value]
        # One round trip: the script answers with the session as it is after (or was when refused).
        status, current, holder, *rest = await self._transition(
            keys=[self._key(session_id), self.pending_key],
            args=[session_id, ",".join(allowed), to, held_by, score, *flat])
        status, current, holder = _str(status), _str(current), _str(holder)
        if status == "missing":
            raise SessionNotFound(session_id)
        flat_hash = rest[0] if rest else []
        session = Session.from_hash({_str(k): _str(v) for k, v in zip(flat_hash[::2], flat_hash[1::2], strict=True)})
        if status == "refused":
            raise TransitionRefused(session_id, to, current, holder, _refusal(to, current, holder), session)
        if status == "not_owner":
            raise TransitionRefused(session_id, to, current, holder,
                                    f"session {session_id} is handled by {holder or 'nobody'}, not {held_by}",
                                    session)
        return session

    async def reprioritize(self, session: Session, priority: str, **values: Any) -> None:
        """A pending session's new priority (SLA re-alert) re-ranks it in the pending index."""
        await self.update(session.session_id, priority=priority, **values)
        await self.redis.zadd(self.pending_key, {session.session_id: pending_score(priority, session.escalated_at)},
                              xx=True)

    # -- history ------------------------------------------------------------------------------------------

    async def append(self, session_id: str, role: str, content: str, *, read_back: int = 0,
                     also: Callable[[Any], None] | None = None, also_results: list[Any] | None = None,
                     **extra: Any) -> list[dict[str, Any]]:
        """Add to the history (masked) in one round trip; `read_back` > 0 returns that many last entries after it,
        `also` adds more commands (the turn's other reads and writes) to the same pipeline; `also_results`, when
        given, receives their replies."""
        entry = json.dumps({"role": role, "content": mask_text(content), "ts": round(time.time(), 3),
                            **mask_value(extra)}, ensure_ascii=False)
        key = self._history_key(session_id)
        phones = phone_numbers(content) if self.reveal_phone and role == "user" else []
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.rpush(key, entry)
            pipe.ltrim(key, -self.history_max, -1)
            pipe.expire(key, self.ttl_s)
            if read_back:
                pipe.lrange(key, -read_back, -1)
            if phones:  # DESK_REVEAL_PHONE: the customer's own numbers, for an agent to reveal on demand
                pipe.sadd(self._contact_key(session_id), *phones)
                pipe.expire(self._contact_key(session_id), self.ttl_s)
            own = len(pipe)
            if also is not None:
                also(pipe)
            results = await pipe.execute()
        if also_results is not None:
            also_results.extend(results[own:])
        return [json.loads(item) for item in results[3]] if read_back else []

    async def history(self, session_id: str, last: int | None = None, *,
                      also: Callable[[Any], None] | None = None) -> list[dict[str, Any]]:
        """The history (the last `last` entries); `also` queues other commands first, in the same round trip."""
        start = -last if last else 0
        if also is None:
            items = await self.redis.lrange(self._history_key(session_id), start, -1)
        else:
            async with self.redis.pipeline(transaction=False) as pipe:
                also(pipe)
                pipe.lrange(self._history_key(session_id), start, -1)
                items = (await pipe.execute())[-1]
        return [json.loads(item) for item in items]

    # -- agent side ---------------------------------------------------------------------------------------

    async def pending(self, limit: int = 100) -> list[Session]:
        ids = await self.redis.zrevrange(self.pending_key, 0, limit - 1)
        async with self.redis.pipeline(transaction=False) as pipe:  # one round trip for the whole queue
            for i in ids:
                pipe.hgetall(self._key(_str(i)))
            raws = await pipe.execute() if ids else []
        sessions = [Session.from_hash({_str(k): _str(v) for k, v in raw.items()}) if raw else None for raw in raws]
        stale = [_str(i) for i, s in zip(ids, sessions, strict=True) if s is None or s.state != "pending"]
        if stale:  # expired sessions leave their index entry behind
            await self.redis.zrem(self.pending_key, *stale)
        return [s for s in sessions if s is not None and s.state == "pending"]

    async def pending_count(self) -> int:
        return int(await self.redis.zcard(self.pending_key))

    async def link_card(self, session_id: str, message_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:  # one round trip on the hand-over's path
            self.queue_update(pipe, session_id, {"card_message_id": message_id})
            pipe.set(self._card_key(message_id), session_id, ex=self.ttl_s)
            await pipe.execute()

    async def by_card(self, message_id: str) -> Session | None:
        session_id = await self.redis.get(self._card_key(message_id))
        return await self.find(_str(session_id)) if session_id else None

    # -- privacy ------------------------------------------------------------------------------------------

    async def contact_phones(self, session_id: str) -> list[str]:
        """The customer's own mobile numbers (kept only with DESK_REVEAL_PHONE), unmasked."""
        return sorted(_str(p) for p in await self.redis.smembers(self._contact_key(session_id)))

    async def sessions_of(self, customer_id: str) -> list[str]:
        """Every stored session of a customer, whatever the channel or chat: the index kept at creation, plus
        the customer's current-session pointers (sessions created before the index existed)."""
        found = {_str(s) for s in await self.redis.smembers(self._sessions_of_key(customer_id))}
        pattern = f"{_PREFIX}:customer:*:*:{_glob_escape(customer_id)}"
        async for key in self.redis.scan_iter(match=pattern, count=500):
            key = _str(key)
            if key.endswith(f":{customer_id}"):
                session_id = await self.redis.get(key)
                if session_id:
                    found.add(_str(session_id))
        return sorted(found)

    async def erase(self, customer_id: str, session_ids: Iterable[str]) -> int:
        """Forget these sessions of `customer_id` and everything keyed by them; returns how many existed."""
        erased = 0
        for session_id in session_ids:
            session = await self.find(session_id)
            if session is not None and session.customer_id != customer_id:
                continue  # an index entry that is not this customer's: never erase someone else's session
            keys = [self._key(session_id), self._history_key(session_id), self._contact_key(session_id)]
            if session is not None:
                erased += 1
                keys.append(self._customer_key(session.channel, session.chat_id, customer_id))
                if session.card_message_id:
                    keys.append(self._card_key(session.card_message_id))
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.delete(*keys)
                pipe.zrem(self.pending_key, session_id)
                await pipe.execute()
        await self.redis.delete(self._sessions_of_key(customer_id))
        return erased


def _refusal(to: str, current: str, holder: str) -> str:
    if to == "claimed" and current == "claimed":
        return f"already claimed by {holder}"
    if to == "claimed" and current in ("bot", "resolved"):
        return f"nothing to claim: the session is {current}"
    if to == "resolved" and current == "bot":
        return "the session is with the bot, not an agent"
    return f"cannot go from {current} to {to}"


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
