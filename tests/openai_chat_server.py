"""A local OpenAI-compatible chat server on loopback, scripted by tests, that records what it received.

`POST /v1/chat/completions` answers in OpenAI's exact JSON and SSE chunk formats (`stream: true`, with
`stream_options.include_usage`), `GET /v1/models` lists models. Replies come from a queue of `ChatReply`s, then
from `responder(request)`, else a default. Faults: any status (429 with `retry-after`, 500), slow replies,
slow chunks, and a connection dropped mid-stream.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_api_key", 429: "rate_limit_exceeded", 500: "server_error"}


@dataclass
class ChatReply:
    text: str = "OK"
    status: int = 200
    delay_s: float = 0.0  # before the response starts (non-streaming: before anything; streaming: before headers)
    chunk_delay_s: float = 0.0  # between streamed chunks
    chunks: list[str] | None = None  # streamed deltas; default: `text` cut into pieces of `chunk_chars`
    chunk_chars: int = 4
    drop_after_chunks: int | None = None  # close the connection after this many content chunks
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = ""
    finish_reason: str = "stop"


def rate_limited(retry_after: float = 1.0) -> ChatReply:
    return ChatReply(status=429, headers={"retry-after": f"{retry_after:g}"}, error_message="Rate limit reached")


def server_error(message: str = "The server had an error while processing your request") -> ChatReply:
    return ChatReply(status=500, error_message=message)


def slow(text: str, delay_s: float) -> ChatReply:
    return ChatReply(text=text, delay_s=delay_s)


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def text(self) -> str:
        """All message contents joined: what a test searches for leaked or masked data."""
        return "\n".join(str(m.get("content") or "") for m in self.messages)

    @property
    def system(self) -> str:
        return next((str(m.get("content") or "") for m in self.messages if m.get("role") == "system"), "")

    @property
    def last_user(self) -> str:
        return next((str(m.get("content") or "") for m in reversed(self.messages) if m.get("role") == "user"), "")


Responder = Callable[[ChatRequest], "ChatReply | str"]


class OpenAIChatServer:
    def __init__(self, *, api_key: str = "test-key", models: tuple[str, ...] = ("test-model",)) -> None:
        self.api_key = api_key
        self.models = models
        self.requests: list[ChatRequest] = []
        self.responder: Responder | None = None
        self._queue: deque[ChatReply] = deque()
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- scripting ----------------------------------------------------------------------------------------

    def enqueue(self, *replies: ChatReply | str) -> None:
        self._queue.extend(r if isinstance(r, ChatReply) else ChatReply(text=r) for r in replies)

    @property
    def models_called(self) -> list[str]:
        return [r.model for r in self.requests]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> OpenAIChatServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handlers -----------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return not self.api_key or request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops, so a slow reply never holds up teardown."""
        if seconds > 0:
            try:
                await asyncio.wait_for(self._closing.wait(), seconds)
            except TimeoutError:
                pass

    @staticmethod
    def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        body = {"error": {"message": message or f"HTTP {status}", "type": kind, "param": None, "code": kind}}
        return web.json_response(body, status=status, headers=headers)

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "Incorrect API key provided")
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "larkdesk-tests"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    def _next_reply(self, chat: ChatRequest) -> ChatReply:
        if self._queue:
            return self._queue.popleft()
        if self.responder is not None:
            reply = self.responder(chat)
            return reply if isinstance(reply, ChatReply) else ChatReply(text=reply)
        return ChatReply()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "Incorrect API key provided")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._error(400, "We could not parse the JSON body of your request")
        if not isinstance(body.get("messages"), list) or not body.get("model"):
            return self._error(400, "'model' and 'messages' are required")
        chat = ChatRequest(
            model=body["model"], messages=body["messages"], stream=bool(body.get("stream")), body=body,
            headers=dict(request.headers),
        )
        self.requests.append(chat)
        reply = self._next_reply(chat)
        await self._sleep(reply.delay_s)
        if reply.status != 200:
            return self._error(reply.status, reply.error_message, reply.headers)
        usage = {
            "prompt_tokens": max(1, len(chat.text) // 2),
            "completion_tokens": max(1, len(reply.text) // 2),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        ident = f"chatcmpl-test{next(self._ids)}"
        if chat.stream:
            return await self._stream(request, chat, reply, ident, usage)
        return web.json_response({
            "id": ident,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": chat.model,
            "system_fingerprint": None,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }],
            "usage": usage,
        }, headers=reply.headers)

    async def _stream(
        self, request: web.Request, chat: ChatRequest, reply: ChatReply, ident: str, usage: dict[str, int]
    ) -> web.StreamResponse:
        include_usage = bool((chat.body.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                               **reply.headers})
        await response.prepare(request)
        created = int(time.time())

        async def send(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
            chunk: dict[str, Any] = {
                "id": ident, "object": "chat.completion.chunk", "created": created, "model": chat.model,
                "system_fingerprint": None, "choices": choices,
            }
            if include_usage:
                chunk["usage"] = None
            chunk.update(extra or {})
            await response.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        pieces = reply.chunks if reply.chunks is not None else [
            reply.text[i:i + reply.chunk_chars] for i in range(0, len(reply.text), reply.chunk_chars)
        ]
        await send([choice({"role": "assistant", "content": "", "refusal": None})])
        for n, piece in enumerate(pieces):
            if reply.drop_after_chunks is not None and n >= reply.drop_after_chunks:
                assert request.transport is not None
                request.transport.close()
                return response
            await self._sleep(reply.chunk_delay_s)
            await send([choice({"content": piece})])
        await send([choice({}, reply.finish_reason)])
        if include_usage:
            await send([], {"usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
