"""/api/v1/agent/*: the human desk over REST — the pending queue, claim, reply, assists, solution, resolve."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from bot.rest.errors import conflict
from bot.rest.models import (
    AcceptRequest,
    AgentMessageRequest,
    BusinessAssistRequest,
    BusinessAssistResponse,
    MessageDelivery,
    PendingSession,
    RecommendRequest,
    RecommendResponse,
    ResolveRequest,
    SessionView,
    SolutionRequest,
    SolutionView,
)
from bot.rest.spec import Operation, QueryParam, dump, dump_list, parse_body, query_int
from bot.services import Services
from desk.sessions import Session
from observability.masking import mask_value

SESSION = "/api/v1/agent/sessions/{session_id}"
PENDING_LIMIT = QueryParam("limit", 1, 500, 100, "at most this many, highest priority first")


def readable_duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def pending_view(session: Session) -> dict[str, Any]:
    """Masked like everything agents see (stored text is masked already; ids a channel chose may not be)."""
    waiting = round(session.waiting_s, 1)
    return mask_value({"session_id": session.session_id, "priority": session.priority, "summary": session.summary,
            "waiting_s": waiting, "waiting": readable_duration(waiting), "escalate_reason": session.escalate_reason,
            "channel": session.channel, "customer_id": session.customer_id, "customer_name": session.customer_name,
            "intent": session.intent, "created_at": session.created_at, "escalated_at": session.escalated_at})


class AgentRoutes:
    def __init__(self, services: Services) -> None:
        self.sessions = services.desk.sessions
        self.agents = services.desk.agents

    async def _session_view(self, session: Session, *, history: bool = False) -> web.Response:
        view = session.to_dict()
        if history:
            view["history"] = await self.sessions.history(session.session_id)
        return dump(SessionView, mask_value(view))

    async def list_pending(self, request: web.Request) -> web.Response:
        sessions = await self.sessions.pending(limit=query_int(request, PENDING_LIMIT))
        return dump_list(PendingSession, [pending_view(s) for s in sessions])

    async def get_session(self, request: web.Request) -> web.Response:
        session = await self.sessions.get(request.match_info["session_id"])
        return await self._session_view(session, history=True)

    async def accept(self, request: web.Request) -> web.Response:
        body = await parse_body(request, AcceptRequest)
        result = await self.agents.claim(request.match_info["session_id"], body.agent_id, body.agent_name or "")
        if not result.won:
            raise conflict(result.reason or "someone else has it", holder_id=result.holder_id,
                           holder_name=result.holder_name, state=result.session.state)
        return await self._session_view(result.session)

    async def send_message(self, request: web.Request) -> web.Response:
        body = await parse_body(request, AgentMessageRequest)
        session_id = request.match_info["session_id"]
        pushed = await self.agents.send_to_customer(session_id, body.content, agent_id=body.agent_id or "")
        session = await self.sessions.get(session_id)
        return dump(MessageDelivery, {"session_id": session_id, "channel": session.channel, "pushed": bool(pushed)})

    async def recommend(self, request: web.Request) -> web.Response:
        body = await parse_body(request, RecommendRequest)
        await self.sessions.get(request.match_info["session_id"])
        chunks = await self.agents.recommend(body.query, top_k=body.top_k)
        return dump(RecommendResponse, {"chunks": chunks, "total": len(chunks)})

    async def business_assist(self, request: web.Request) -> web.Response:
        body = await parse_body(request, BusinessAssistRequest)
        await self.sessions.get(request.match_info["session_id"])
        return dump(BusinessAssistResponse, {"result": await self.agents.business_assist(body.query)})

    async def save_solution(self, request: web.Request) -> web.Response:
        body = await parse_body(request, SolutionRequest)
        solution = await self.agents.save_solution(request.match_info["session_id"], body.question, body.solution,
                                                   intent=body.intent or "", submitted_by=body.agent_id or "")
        return dump(SolutionView, asdict(solution), status=201)

    async def resolve(self, request: web.Request) -> web.Response:
        body = await parse_body(request, ResolveRequest, optional=True)
        session = await self.agents.resolve(request.match_info["session_id"], body.note,
                                            agent_id=body.agent_id or "")
        return await self._session_view(session)

    def operations(self) -> list[Operation]:
        tag = "agent desk"
        return [
            Operation("GET", "/api/v1/agent/sessions/pending", self.list_pending, "Sessions waiting for an agent, "
                      "highest priority first, then longest waiting", tag, PendingSession, ok_list=True,
                      query=(PENDING_LIMIT,)),
            Operation("GET", SESSION, self.get_session, "A session with its history", tag, SessionView),
            Operation("POST", f"{SESSION}/accept", self.accept, "Claim a pending session (exactly one agent wins)",
                      tag, SessionView, body=AcceptRequest, errors=(409,),
                      description="409 when someone else claimed it first (error.details.holder_id says who)."),
            Operation("POST", f"{SESSION}/messages", self.send_message, "Write to the customer", tag,
                      MessageDelivery, body=AgentMessageRequest, errors=(409,),
                      description="Pushed where the channel can push (Feishu); web customers read it from the "
                                  "session history. 409 unless the session is pending or claimed (by you)."),
            Operation("POST", f"{SESSION}/knowledge-recommend", self.recommend, "Knowledge passages for a query",
                      tag, RecommendResponse, body=RecommendRequest),
            Operation("POST", f"{SESSION}/business-assist", self.business_assist, "Ask the business backend "
                      "(order lookup)", tag, BusinessAssistResponse, body=BusinessAssistRequest),
            Operation("POST", f"{SESSION}/solution", self.save_solution, "Propose a solution for review", tag,
                      SolutionView, ok_status=201, body=SolutionRequest),
            Operation("POST", f"{SESSION}/resolve", self.resolve, "Close the session", tag, SessionView,
                      body=ResolveRequest, body_optional=True, errors=(409,)),
        ]

