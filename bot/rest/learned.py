"""Learned phrasings over REST (rag/learning.py): list them for review, approve or remove one, and let an agent
teach the bot which knowledge entry answered a customer."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field

from bot.rest.errors import conflict, not_found
from bot.rest.models import Body, Ident, Out
from bot.rest.spec import Operation, QueryParam, dump, dump_list, parse_body, query_int
from bot.services import Services
from desk.sessions import SessionNotFound, TransitionRefused

LIMIT = QueryParam("limit", 1, 1000, 100, "at most this many, newest first")
_STATUSES = ("pending", "active", "removed")


class EntryView(Out):
    key: str
    source_id: str
    block_id: str = ""
    chunk_id: str = ""
    label: str = ""
    knowledge_type: str = ""


class PhrasingView(Out):
    id: str
    wording: str = Field(description="The customer's words, masked, long numbers generalized to #.")
    entry: EntryView
    status: Literal["pending", "active", "removed"]
    score: int
    signals: list[dict[str, Any]] = Field(description="kind (click, helpful, agent, not_helpful, approved, "
                                                      "removed), when, and a hash of who")
    customers: int = Field(description="How many customers' words it came from.")
    created_at: float
    updated_at: float


class EntryChoice(Body):
    key: Ident
    source_id: Ident
    block_id: str = ""
    chunk_id: str = ""
    label: str = ""
    knowledge_type: str = ""


class TeachRequest(Body):
    agent_id: Ident = Field(description="The agent who picked the entry.")
    entry: EntryChoice = Field(description="The entry, as `option` in a knowledge-recommend result.")
    send: bool = Field(False, description="Also send the entry's answer to the customer as the agent.")


class TeachResult(Out):
    session_id: str
    taught: int = Field(description="How many of the customer's unanswered wordings became learned phrasings.")
    delivered: bool | None = None


def _view(phrasing: Any) -> dict[str, Any]:
    data = phrasing.to_dict()
    return data | {"customers": len(data.get("customers") or [])}


class LearnedRoutes:
    def __init__(self, services: Services) -> None:
        self.learning = services.knowledge.learning
        self.agents = services.desk.agents

    async def list_learned(self, request: web.Request) -> web.Response:
        status = request.query.get("status") or None
        if status is not None and status not in _STATUSES:
            raise not_found(f"no status {status!r}: use one of {', '.join(_STATUSES)}")
        phrasings = await self.learning.list(status, limit=query_int(request, LIMIT))  # type: ignore[arg-type]
        return dump_list(PhrasingView, [_view(p) for p in phrasings])

    async def approve_learned(self, request: web.Request) -> web.Response:
        return await self._change(request, self.learning.approve)

    async def remove_learned(self, request: web.Request) -> web.Response:
        return await self._change(request, self.learning.remove)

    async def _change(self, request: web.Request, change: Any) -> web.Response:
        pid = request.match_info["phrasing_id"]
        try:
            phrasing = await change(pid, by=request.headers.get("X-Actor", "api"))
        except KeyError:
            raise not_found(f"learned phrasing {pid} not found") from None
        return dump(PhrasingView, _view(phrasing))

    async def teach(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session_id"]
        body = await parse_body(request, TeachRequest)
        option = body.entry.model_dump()
        try:
            if body.send:
                delivered, taught = await self.agents.answer_with_entry(session_id, option, agent_id=body.agent_id)
                return dump(TeachResult, {"session_id": session_id, "taught": taught, "delivered": delivered})
            taught = await self.agents.teach(session_id, option, agent_id=body.agent_id)
        except SessionNotFound:
            raise not_found(f"session {session_id} not found") from None
        except TransitionRefused as exc:
            raise conflict(exc.reason) from None
        except ValueError as exc:
            raise not_found(str(exc)) from None
        return dump(TeachResult, {"session_id": session_id, "taught": taught})

    def operations(self) -> list[Operation]:
        learned = "/api/v1/knowledge/learned"
        return [
            Operation("GET", learned, self.list_learned, "Learned phrasings: customers' wordings of knowledge "
                      "entries, from did-you-mean clicks, answer feedback and agents' picks", "knowledge",
                      PhrasingView, ok_list=True, query=(LIMIT,),
                      description="`?status=pending` lists those waiting for review (below "
                                  "LEARN_AUTO_APPROVE_SIGNALS), `active` those in use, `removed` those taken out."),
            Operation("POST", f"{learned}/{{phrasing_id}}/approve", self.approve_learned,
                      "Use a learned phrasing (it is indexed like an FAQ's similar question)", "knowledge",
                      PhrasingView, errors=(404,)),
            Operation("DELETE", f"{learned}/{{phrasing_id}}", self.remove_learned,
                      "Stop using a learned phrasing (kept as removed, so the same clicks cannot bring it back)",
                      "knowledge", PhrasingView, errors=(404,)),
            Operation("POST", "/api/v1/agent/sessions/{session_id}/teach", self.teach,
                      "An agent says which knowledge entry answers this customer: the wordings the bot could not "
                      "answer become learned phrasings of it", "agents", TeachResult, body=TeachRequest,
                      errors=(404, 409)),
        ]

