"""10,000 seeded hostile bodies against the webhook and every REST POST route, and schemathesis against the
webhook: no 5xx, no traceback, and nothing of the wrong shape ever queued for a handler."""

from __future__ import annotations

import asyncio
import collections
import json
import time
from pathlib import Path
from unittest import mock

import aiohttp
import fakeredis
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from config.settings import Settings
from feishu.event_schema import is_internal, schema_problem
from tests.hostile.fuzz import SESSION, FuzzRequest, requests
from tests.integration.test_knowledge import FAQ
from tests.signing import ENCRYPT_KEY, TOKEN

pytestmark = pytest.mark.integration

SEED = 20261129


async def start_server(tmp_path: Path, embedder) -> tuple[TestServer, Services]:
    """The product's app with the FAQ fixture, acknowledging only (no workers: nothing here calls Feishu)."""
    settings = Settings(_env_file=None, data_dir=tmp_path, sample_kb=False, desk_working_hours="",
                        feishu_verification_token=TOKEN, feishu_encrypt_key=ENCRYPT_KEY,
                        feishu_domain="http://127.0.0.1:1", cache_enabled=True)
    with mock.patch("rag.service.embedder_from", lambda _settings: embedder):
        services = Services.build(settings, redis=fakeredis.FakeAsyncRedis(decode_responses=True))
    server = TestServer(create_app(settings, services=services, run_workers=False))
    await server.start_server()
    (tmp_path / "faq.jsonl").write_text(FAQ, encoding="utf-8")
    await services.knowledge.kb.ingest_file(tmp_path / "faq.jsonl")
    return server, services


async def run_fuzz(base_url: str, fuzz: list[FuzzRequest], session_id: str, *, concurrency: int = 8
                   ) -> tuple[collections.Counter, list[str]]:
    statuses: collections.Counter = collections.Counter()
    problems: list[str] = []
    queue: asyncio.Queue[FuzzRequest] = asyncio.Queue()
    for item in fuzz:
        queue.put_nowait(item)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            item = queue.get_nowait()
            path = item.path.replace(SESSION, session_id)
            async with http.request(item.method, base_url + path, data=item.body, headers=item.headers) as resp:
                text = await resp.text(errors="replace")
            statuses[resp.status] += 1
            if resp.status >= 500 or "Traceback" in text:
                problems.append(f"{resp.status} {item.kind} {path} {item.body[:120]!r} → {text[:300]}")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return statuses, problems


async def test_ten_thousand_hostile_bodies_never_get_a_server_error(tmp_path, embedder):
    server, services = await start_server(tmp_path, embedder)
    try:
        base_url = str(server.make_url("")).rstrip("/")
        session = await services.desk.sessions.create("web", "u_fuzz")
        fuzz = list(requests(SEED, 10_000))
        started = time.perf_counter()
        statuses, problems = await run_fuzz(base_url, fuzz, session.session_id)
        elapsed = time.perf_counter() - started
        print(json.dumps({"fuzz_bodies": len(fuzz), "statuses": dict(sorted(statuses.items())),
                          "seconds": round(elapsed, 1)}))
        assert sum(statuses.values()) == 10_000
        assert problems == []
        assert {200, 201, 202, 400, 401, 403, 404, 409, 413, 415, 422} >= set(statuses)
        # Every event that reached the queue fits the schema of its type; internal ones only come from larkdesk's
        # own card handling (a click's follow-up), never straight from a request.
        entries = await services.redis.xrange(services.queue.stream)
        assert entries, "some signed events were well-formed and queued"
        for _entry_id, fields in entries:
            if is_internal(fields["type"]):
                assert fields["event_id"].startswith(("ask-", "fu-")), fields
                continue
            assert schema_problem(fields["event_id"], fields["type"], json.loads(fields["payload"])) is None
    finally:
        await server.close()


def webhook_document() -> dict:
    """/feishu/events as OpenAPI, so schemathesis can generate bodies for it (it is not part of /openapi.json)."""
    error = {"type": "object", "required": ["status", "error"], "properties": {
        "status": {"const": "error"}, "error": {"type": "object", "required": ["code", "message"]}}}
    answers = {str(code): {"description": "refused", "content": {"application/json": {"schema": error}}}
               for code in (400, 401, 403, 413)}
    answers["200"] = {"description": "acknowledged, a challenge answered, or a card callback's answer",
                      "content": {"application/json": {"schema": {"type": "object"}}}}
    return {"openapi": "3.1.0", "info": {"title": "webhook", "version": "1"}, "paths": {"/feishu/events": {"post": {
        "operationId": "webhook",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "encrypt": {"type": "string"}, "schema": {"type": "string"}, "type": {"type": "string"},
                "challenge": {"type": "string"}, "token": {"type": "string"},
                "header": {"type": "object", "properties": {"event_id": {"type": "string"},
                                                            "event_type": {"type": "string"}}},
                "event": {"type": "object"}}}}}},
        "parameters": [{"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
                       for name in ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature")],
        "responses": answers}}}}


def schemathesis_webhook(base_url: str, examples: int) -> str | None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error, status_code_conformance

    operation = next(iter(schemathesis.openapi.from_dict(webhook_document()).get_all_operations())).ok()
    cases = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
        assert "Traceback" not in response.text

    try:
        check()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:3000]
    return None


async def test_schemathesis_finds_no_server_error_on_the_webhook(tmp_path, embedder):
    server, _services = await start_server(tmp_path, embedder)
    try:
        failure = await asyncio.to_thread(schemathesis_webhook, str(server.make_url("")).rstrip("/"), 150)
        assert failure is None
    finally:
        await server.close()
