"""Server-sent events over an aiohttp StreamResponse; a client that went away stops the writes, not the turn."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


class EventStream:
    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self.closed = False

    @classmethod
    async def open(cls, request: web.Request) -> EventStream:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                               "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        return cls(response)

    async def send(self, event: str, data: dict[str, Any]) -> None:
        if self.closed:
            return
        payload = f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
        try:
            await self.response.write(payload)  # one write per event: it goes out (and drains) now
        except (ConnectionError, RuntimeError):  # the client disconnected; the turn itself goes on
            self.closed = True

    async def close(self) -> None:
        if not self.closed:
            try:
                await self.response.write_eof()
            except (ConnectionError, RuntimeError):
                pass
            self.closed = True
