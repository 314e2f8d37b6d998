"""The OpenAPI document matches the registered routes exactly, and /docs renders it with nothing external."""

from __future__ import annotations

import re

import fakeredis
import pytest

from bot.app import create_app
from bot.rest.agents import readable_duration
from bot.rest.docs_page import render_docs
from bot.rest.errors import bad_request
from bot.rest.mount import OPERATIONS
from bot.rest.openapi import SSE_EVENT, build_document
from bot.rest.uploads import safe_filename
from config.settings import Settings

pytestmark = pytest.mark.unit

_PARAM = re.compile(r"{(\w+)}")


@pytest.fixture
def app(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, sample_kb=False)
    return create_app(settings, redis=fakeredis.FakeAsyncRedis(decode_responses=True))


def registered_api_routes(app) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter", "")
        if path.startswith("/api/") and route.method != "HEAD":
            out.add((route.method, path))
    return out


def documented_routes(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}


def test_every_api_route_is_documented_and_every_documented_route_exists(app):
    document = build_document(app[OPERATIONS])
    registered = registered_api_routes(app)
    assert registered and registered == documented_routes(document)
    assert len(registered) == 24  # + jobs, customers, learned phrasings (list, approve, remove), teach


def test_document_shape(app):
    doc = build_document(app[OPERATIONS])
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "apiKey", "in": "header",
                                                                  "name": "X-API-Key"}
    schemas = doc["components"]["schemas"]
    operation_ids = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["operationId"] not in operation_ids
            operation_ids.add(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(_PARAM.findall(path))
            assert any(code.startswith("2") for code in op["responses"]), (method, path)
            assert {"401", "422"} <= set(op["responses"])
            if method == "post" and path != "/api/v1/performance/cache/invalidate" and not path.endswith("/approve"):
                assert "requestBody" in op, path
    chat = doc["paths"]["/api/v1/chat"]["post"]
    body = schemas[chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    # message, choice (a did-you-mean pick) or helpful (feedback): exactly one, checked by the model
    assert "required" not in body and body["additionalProperties"] is False
    assert {"message", "choice", "helpful", "session_id"} <= set(body["properties"])
    recommend = schemas["RecommendRequest"]["properties"]["top_k"]
    assert (recommend["minimum"], recommend["maximum"]) == (1, 20)
    ingest = doc["paths"]["/api/v1/knowledge/ingest"]["post"]["requestBody"]["content"]
    assert set(ingest) == {"multipart/form-data"}
    assert doc["paths"]["/api/v1/chat/stream"]["post"]["responses"]["200"]["content"] == {
        "text/event-stream": {"schema": SSE_EVENT}}
    for ref in re.findall(r'"\$ref": "#/components/schemas/(\w+)"', str(doc).replace("'", '"')):
        assert ref in schemas


def test_docs_page_is_self_contained(app):
    page = render_docs(build_document(app[OPERATIONS]))
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "/api/v1/agent/sessions/{session_id}/accept" in page and "X-API-Key" in page


def test_helpers():
    assert readable_duration(5) == "5s" and readable_duration(185) == "3m 05s" and readable_duration(7300) == "2h 01m"
    assert safe_filename("C:\\docs\\manual.pdf") == "manual.pdf"
    assert safe_filename("../../etc/pass\x00wd.md") == "pass_wd.md"
    with pytest.raises(type(bad_request("x"))):
        safe_filename("..")
