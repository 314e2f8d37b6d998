"""What a stranger can send to the REST API, and what a broken LLM can answer: a clear 4xx or a fallback, never a
5xx or a traceback."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from tests.rest_client import JsonClient, start_rest_server

pytestmark = pytest.mark.integration


@pytest.fixture
async def rest(tmp_path, embedder):
    server = await start_rest_server(tmp_path, embedder=embedder, api_key="k-123", api_max_json_bytes=64 * 1024,
                                     json_max_depth=16)
    yield server
    await server.close()


@pytest.fixture
async def api(rest):
    client = JsonClient(rest.url, api_key="k-123")
    yield client
    await client.close()


async def raw_request(url: str, request: bytes) -> tuple[int, bytes]:
    """One request written byte for byte (headers a client library would refuse to send)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(
        b"content-length:")), 0)
    body = await reader.readexactly(length) if length else b""
    writer.close()
    return status, body


@pytest.mark.parametrize("key", [b"\xff\xfe", b"k-12\xe9", "钥匙".encode()])
async def test_non_ascii_api_key_is_a_401(rest, key):
    request = (b"GET /api/v1/agent/sessions/pending HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key
               + b"\r\nConnection: close\r\n\r\n")
    status, body = await raw_request(rest.url, request)
    assert status == 401 and b'"invalid_api_key"' in body and b"Traceback" not in body


@pytest.mark.parametrize("path", ["/api/v1/chat", "/api/v1/agent/sessions/s_1/accept"])
@pytest.mark.parametrize("body", [b"[" * 1000, b"[" * 60_000, b'{"message":' * 100, b'{"message": "\xff"}'])
async def test_deep_or_undecodable_json_is_a_400(api, path, body):
    status, answer = await api.call("POST", path, data=body, headers={"Content-Type": "application/json"})
    assert status == 400 and answer["error"]["code"] == "bad_request"


async def test_json_over_the_size_limit_is_a_413_naming_it(api):
    big = b'{"message": "' + b"a" * (70 * 1024) + b'"}'
    status, answer = await api.call("POST", "/api/v1/chat", data=big, headers={"Content-Type": "application/json"})
    assert status == 413 and answer["error"]["details"]["limit"] == "API_MAX_JSON_BYTES"

    async def chunks():  # no Content-Length: refused while it streams
        for _ in range(10):
            yield b" " * 10_000

    status, answer = await api.call("POST", "/api/v1/chat", data=chunks(), headers={"Content-Type": "application/json"})
    assert status == 413


async def test_lone_surrogates_in_a_body_are_stored_as_replacement_characters(api, rest):
    status, answer = await api.call("POST", "/api/v1/chat", data=b'{"message": "\\ud800\\u9000\\u8d27", '
                                    b'"user_id": "u\\udc00"}', headers={"Content-Type": "application/json"})
    assert status == 200, answer
    session = await rest.services.desk.sessions.get(answer["session_id"])
    assert session.customer_id == "u\ufffd"


@pytest.mark.parametrize("path", ["/api/v1/agent/sessions/%ED%A0%80", "/api/v1/monitor/traces/%ff",
                                  "/api/v1/knowledge/documents/%C0%AF/versions"])
async def test_undecodable_urls_are_a_4xx(api, path):
    status, answer = await api.call("GET", path)
    assert status in (400, 404), answer


class BrokenLLM:
    """A server answering HTTP 200 with bodies that are not OpenAI answers."""

    BODIES = {"html": (b"<html>proxy error</html>", "text/html"), "not_json": (b"{not json", "application/json"),
              "list": (b"[1, 2]", "application/json"), "no_choices": (b'{"id": "x"}', "application/json"),
              "content_number": (b'{"choices": [{"message": {"content": 5}}]}', "application/json"),
              "empty": (b'{"choices": [{"message": {"content": ""}}]}', "application/json"),
              "deep": (b"[" * 5000 + b"]" * 5000, "application/json")}

    def __init__(self) -> None:
        self.kind = "html"
        self.calls = 0

    async def __aenter__(self) -> BrokenLLM:
        async def handler(_request: web.Request) -> web.Response:
            self.calls += 1
            body, content_type = self.BODIES[self.kind]
            return web.Response(body=body, content_type=content_type)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def test_an_llm_answering_garbage_falls_back_to_the_extractive_answer(tmp_path, embedder):
    async with BrokenLLM() as llm:
        rest = await start_rest_server(tmp_path, embedder=embedder, llm_base_url=f"http://127.0.0.1:{llm.port}/v1",
                                       llm_model="m", llm_api_key="k", cache_enabled=False)
        api = JsonClient(rest.url)
        try:
            for kind in BrokenLLM.BODIES:
                llm.kind = kind
                status, body = await api.post("/api/v1/chat", {"message": "怎么申请退货？"})
                assert status == 200, (kind, body)
                assert body["data"]["decision"] in ("answer", "suggest"), (kind, body)
                assert "7天" in body["reply"] or body["data"].get("suggestions"), (kind, body)
                async with api.session.post(f"{rest.url}/api/v1/chat/stream", json={"message": "怎么申请退货？"}) as r:
                    text = await r.text()
                assert r.status == 200 and "event: done" in text and "event: error" not in text, (kind, text)
            assert llm.calls >= 2 * len(BrokenLLM.BODIES)  # the model was asked every time, and failed every time
        finally:
            await api.close()
            await rest.close()
