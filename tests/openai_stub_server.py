"""A real OpenAI-compatible HTTP server on loopback for tests: the real `openai` SDK talks to it over HTTP.

Deterministic answers, a request log to assert on, and fault injection (429 with retry-after, 5xx, slow
answers). Routes so far: `POST /v1/embeddings`, `GET /v1/models`. Add routes in `_routes()`; the
middleware records and applies faults to every route.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

EMBEDDING_DIM = 64


def stub_embedding(text: str, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """Signed hashing of character 1- and 2-grams: texts that share characters get similar vectors.

    Deliberately not normalized (length grows with the text), so clients must normalize themselves.
    """
    vec = np.zeros(dim, dtype=np.float32)
    grams = list(text) + [text[i : i + 2] for i in range(len(text) - 1)]
    for gram in grams:
        h = int.from_bytes(hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest(), "little")
        vec[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    if not vec.any():
        vec[0] = 1.0  # empty input still gets a valid direction
    return vec


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float
    status: int = 0  # filled in after the answer


@dataclass
class Fault:
    status: int | None = None  # None: no error, only the delay
    delay_s: float = 0.0
    retry_after: float | None = None
    path: str | None = None  # None: any route
    message: str = "injected fault"


@dataclass
class OpenAIStubServer:
    host: str = "127.0.0.1"
    port: int = 0
    api_key: str | None = None  # when set, requests must carry `Authorization: Bearer <api_key>`
    embedding_dim: int = EMBEDDING_DIM
    delay_s: float = 0.0  # added to every answer
    requests: list[RecordedRequest] = field(default_factory=list, init=False)
    base_url: str = field(default="", init=False)
    _faults: deque[Fault] = field(default_factory=deque, init=False)
    _runner: web.AppRunner | None = field(default=None, init=False)

    # --- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> str:
        """Start serving; returns the base URL for the SDK (`http://127.0.0.1:PORT/v1`)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_routes(self._routes())
        # Short shutdown timeout: a test that injected a slow answer must not hang the teardown.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OpenAIStubServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- fault injection ---------------------------------------------------------------------------------
    def fail_next(
        self, status: int, *, count: int = 1, retry_after: float | None = None, path: str | None = None
    ) -> None:
        """The next `count` matching requests get `status` (429 with `retry_after` sends the header)."""
        for _ in range(count):
            self._faults.append(Fault(status=status, retry_after=retry_after, path=path))

    def slow_next(self, delay_s: float, *, count: int = 1, path: str | None = None) -> None:
        """The next `count` matching requests are answered normally, but only after `delay_s`."""
        for _ in range(count):
            self._faults.append(Fault(delay_s=delay_s, path=path))

    def clear_faults(self) -> None:
        self._faults.clear()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.path is None or fault.path == path:
                self._faults.remove(fault)
                return fault
        return None

    # --- plumbing ----------------------------------------------------------------------------------------
    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/embeddings", self._embeddings),
            web.get("/v1/models", self._models),
        ]

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = await request.json() if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(request.method, request.path, dict(request.headers), body, time.monotonic())
        self.requests.append(record)
        response = await self._answer(request, handler)
        record.status = response.status
        return response

    async def _answer(self, request: web.Request, handler) -> web.StreamResponse:
        fault = self._take_fault(request.path)
        delay = self.delay_s + (fault.delay_s if fault else 0.0)
        if delay:
            await asyncio.sleep(delay)
        if fault and fault.status:
            headers = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            kind = "rate_limit_error" if fault.status == 429 else "server_error"
            return error_response(fault.status, fault.message, kind, headers=headers)
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return error_response(401, "Incorrect API key provided", "invalid_request_error", code="invalid_api_key")
        return await handler(request)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "stub-embedding", "object": "model"}]})

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return error_response(400, "'input' must be a string or a list of strings", "invalid_request_error")
        if any(t == "" for t in texts):
            return error_response(400, "'input' must not contain empty strings", "invalid_request_error")
        dim = int(body.get("dimensions") or self.embedding_dim)
        fmt = body.get("encoding_format", "float")
        data = []
        for i, text in enumerate(texts):
            vec = stub_embedding(text, dim)
            emb: Any = base64.b64encode(vec.astype("<f4").tobytes()).decode() if fmt == "base64" else vec.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(t) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def error_response(
    status: int, message: str, kind: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    """OpenAI's error envelope, so the SDK raises its typed errors (RateLimitError, InternalServerError...)."""
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status, headers=headers
    )
