"""POST /api/v1/chat and /api/v1/chat/stream: one customer turn through the desk, whole or as SSE."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from aiohttp import web

from bot.rest.errors import not_found
from bot.rest.models import ChatRequest, ChatResponse, CustomerMessages, StreamMeta, StreamToken
from bot.rest.spec import Operation, QueryParam, dump, parse_body, query_int
from bot.rest.sse import EventStream
from bot.services import Services
from desk.conversation import TurnResult
from desk.sessions import Session
from rag.milvus import StoreUnavailable

log = structlog.get_logger("bot.rest.chat")

AFTER_MS = QueryParam("after_ms", 0, 10**14, 0, "only messages after this time (epoch milliseconds)")
MESSAGES_LIMIT = QueryParam("limit", 1, 200, 50, "at most this many, oldest first")


def _body(result: TurnResult) -> dict[str, Any]:
    return {"session_id": result.session.session_id, "reply": result.reply, "status": "ok", "data": result.data()}


class ChatRoutes:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.desk = services.desk

    async def _session(self, body: ChatRequest) -> Session:
        if body.session_id:
            session = await self.desk.sessions.find(body.session_id)
            if session is None:
                raise not_found(f"session {body.session_id} not found")
            return session
        customer = body.user_id or f"{body.channel}_{uuid.uuid4().hex[:16]}"
        return await self.desk.sessions.create(body.channel, customer, language=self.services.settings.bot_language)

    async def chat(self, request: web.Request) -> web.Response:
        body = await parse_body(request, ChatRequest)
        session = await self._session(body)
        conversation = self.desk.conversation
        if body.choice is not None:
            result = await conversation.choose(session, body.choice)
        elif body.helpful is not None:
            result = await conversation.feedback(session, body.helpful)
        else:
            result = await conversation.turn(session, body.message or "")
        return dump(ChatResponse, _body(result))

    async def chat_stream(self, request: web.Request) -> web.StreamResponse:
        body = await parse_body(request, ChatRequest)
        session = await self._session(body)  # errors so far are plain JSON errors: nothing was streamed yet
        stream = await EventStream.open(request)
        await stream.send("meta", {"session_id": session.session_id})

        tokens_sent = 0

        async def on_token(delta: str) -> None:
            nonlocal tokens_sent
            if delta:
                tokens_sent += 1
                await stream.send("token", {"content": delta})

        try:
            if body.choice is not None:
                result = await self.desk.conversation.choose(session, body.choice)
            elif body.helpful is not None:
                result = await self.desk.conversation.feedback(session, body.helpful)
            else:
                result = await self.desk.conversation.turn(session, body.message or "", on_token=on_token)
        except StoreUnavailable as exc:
            log.warning("rest.stream_store_unavailable", session_id=session.session_id, error=str(exc))
            await stream.send("error", {"code": "vector_store_unavailable",
                                        "message": "the knowledge store is unavailable; retry later"})
        except Exception as exc:
            log.exception("rest.stream_failed", session_id=session.session_id)
            await stream.send("error", {"code": "internal_error", "message": type(exc).__name__})
        else:
            # Nothing went out as tokens (no streaming LLM, a cached answer, a hand-over): the reply is one token.
            if not tokens_sent and result.reply:
                await stream.send("token", {"content": result.reply})
            await stream.send("done", _body(result))
        await stream.close()
        return stream.response

    async def customer_messages(self, request: web.Request) -> web.Response:
        """What the desk said to a web or app customer since their last poll: agents' messages included
        (Feishu customers get them pushed; these channels fetch them)."""
        session_id = request.match_info["session_id"]
        session = await self.desk.sessions.find(session_id)
        if session is None:
            raise not_found(f"session {session_id} not found")
        after_ms = query_int(request, AFTER_MS)
        history = await self.desk.sessions.history(session_id)
        said = [h for h in history if h.get("role") in ("assistant", "agent") and h.get("ts", 0) * 1000 > after_ms]
        said = said[: query_int(request, MESSAGES_LIMIT)]
        next_after = int(said[-1]["ts"] * 1000) if said else after_ms
        return dump(CustomerMessages, {"session_id": session_id, "state": session.state,
                                       "agent_name": session.agent_name if session.state == "claimed" else "",
                                       "messages": said, "next_after_ms": next_after})

    def operations(self) -> list[Operation]:
        return [
            Operation("POST", "/api/v1/chat", self.chat, "Send a customer message, get the desk's reply", "chat",
                      ChatResponse, body=ChatRequest, errors=(404,),
                      description="No session_id starts a session. While the session is with a human (pending or "
                                  "claimed) the message goes to the agents and reply is empty."),
            Operation("POST", "/api/v1/chat/stream", self.chat_stream, "The same turn as server-sent events",
                      "chat", None, stream=True, body=ChatRequest, errors=(404,),
                      extra_schemas=(StreamMeta, StreamToken, ChatResponse),
                      description="Events: `meta` {session_id} first; `token` {content}, one per LLM delta (the "
                                  "whole reply as one token without a streaming LLM); `done` (the body of "
                                  "/api/v1/chat); or `error` {code, message}."),
            Operation("GET", "/api/v1/chat/{session_id}/messages", self.customer_messages,
                      "What the bot and agents said to the customer since a point in time", "chat",
                      CustomerMessages, query=(AFTER_MS, MESSAGES_LIMIT), errors=(404,),
                      description="Web and app widgets poll this to show an agent's replies after a hand-over."),
        ]
