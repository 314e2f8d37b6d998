"""Property-based run of schemathesis against the server's own /openapi.json: whatever it generates (valid
and invalid bodies, queries, path ids, uploads) is never answered with a 5xx, and every answer has a
documented status, content type and schema. A quick pass runs always; the long one is `slow`."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from tests.rest_client import start_rest_server

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.integration

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
async def rest(tmp_path, embedder):
    server = await start_rest_server(tmp_path, embedder=embedder)
    yield server
    await server.close()


def _post(base_url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(base_url + path, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def known_ids(base_url: str) -> dict[str, list[str]]:
    """Ids that exist, so generated requests reach past the 404 of a random id: sessions with the bot, pending
    and claimed, a knowledge source and a trace."""
    with_bot = _post(base_url, "/api/v1/chat", {"message": "怎么申请退货？"})
    pending = _post(base_url, "/api/v1/chat", {"message": "转人工"})
    claimed = _post(base_url, "/api/v1/chat", {"message": "我要找人工客服"})
    _post(base_url, f"/api/v1/agent/sessions/{claimed['session_id']}/accept", {"agent_id": "a_fuzz"})
    return {"session_id": [with_bot["session_id"], pending["session_id"], claimed["session_id"]],
            "source_id": ["file:faq.jsonl"], "trace_id": [with_bot["data"]["trace_id"]]}


def fuzz(base_url: str, examples: int) -> dict[str, str]:
    """Runs in a thread (schemathesis calls are blocking) while the test's loop serves. Failures by operation."""
    with urllib.request.urlopen(f"{base_url}/openapi.json", timeout=10) as response:
        document = json.load(response)
    ids = known_ids(base_url)
    schema = schemathesis.openapi.from_dict(document)
    failures: dict[str, str] = {}
    tested: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies = [operation.as_strategy(generation_mode=mode)
                      for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
        names = [p.name for p in operation.path_parameters]
        for name in names:
            strategies += [operation.as_strategy(generation_mode=GenerationMode.POSITIVE,
                                                 path_parameters={name: value}) for value in ids.get(name, [])]
        cases = st.one_of(strategies)

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def check(case) -> None:
            response = case.call(base_url=base_url, timeout=30)
            case.validate_response(response, checks=CHECKS)

        tested.append(operation.label)
        try:
            check()
        except Exception as exc:  # the shrunk counterexample, with schemathesis's explanation
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert len(tested) == sum(len(ops) for ops in document["paths"].values())
    return failures


async def test_generated_requests_never_get_a_server_error(rest):
    failures = await asyncio.to_thread(fuzz, rest.url, 12)
    assert failures == {}


@pytest.mark.slow
async def test_generated_requests_never_get_a_server_error_long_run(rest):
    failures = await asyncio.to_thread(fuzz, rest.url, 120)
    assert failures == {}
