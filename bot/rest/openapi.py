"""The OpenAPI 3.1 document, generated from the route table and the pydantic models it names."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.rest.middleware import API_KEY_HEADER
from bot.rest.models import ErrorResponse
from bot.rest.spec import Operation

REF = "#/components/schemas/{model}"
# Every /api route may answer these (bad JSON or query, no key, invalid body, store or Redis down).
COMMON_ERRORS = (400, 401, 422, 503)
_ERROR_TEXT = {400: "Malformed request (JSON, multipart, query)", 401: "Missing or invalid X-API-Key",
               404: "Unknown session, source or trace", 409: "Conflict: someone else holds it, or the state refuses",
               413: "Body over a limit (JSON size, upload size, an ingest limit)", 415: "Unsupported file type",
               422: "Validation failed",
               503: "Vector store or Redis unavailable"}
# One event of a text/event-stream; `data` is JSON text (StreamMeta, StreamToken, ChatResponse or ErrorDetail).
SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"type": "string", "enum": ["meta", "token", "done", "error"]},
    "data": {"type": "string", "contentMediaType": "application/json",
             "description": "meta: StreamMeta; token: StreamToken; done: ChatResponse; error: ErrorDetail"}}}
_PATH_PARAM = re.compile(r"{(\w+)}")


def _schemas(operations: list[Operation]) -> tuple[dict[tuple[type[BaseModel], str], Any], dict[str, Any]]:
    models: set[tuple[type[BaseModel], str]] = {(ErrorResponse, "serialization")}
    for op in operations:
        if op.body is not None:
            models.add((op.body, "validation"))
        if op.ok is not None:
            models.add((op.ok, "serialization"))
        models.update((m, "serialization") for m in op.extra_schemas)
        models.update((m, "serialization") for _status, m in op.other_ok)
    refs, defs = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=REF)
    return refs, defs.get("$defs", {})


def _ref(refs: dict, model: type[BaseModel], mode: str) -> dict[str, Any]:
    return refs[(model, mode)]


def _operation(op: Operation, refs: dict) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    if op.description:
        out["description"] = op.description
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
              for name in _PATH_PARAM.findall(op.path)]
    params += [{"name": q.name, "in": "query", "required": False, "description": q.description,
                "schema": {"type": "integer", "minimum": q.minimum, "maximum": q.maximum, "default": q.default}}
               for q in op.query]
    if params:
        out["parameters"] = params
    if op.body is not None:
        schema = _ref(refs, op.body, "validation")
        media = "multipart/form-data" if op.multipart else "application/json"
        content: dict[str, Any] = {media: {"schema": schema}}
        if op.multipart:
            content[media]["encoding"] = {"file": {"contentType": "application/octet-stream"}}
        out["requestBody"] = {"required": not op.body_optional, "content": content}
    responses: dict[str, Any] = {}
    if op.stream:
        responses[str(op.ok_status)] = {
            "description": "Server-sent events: meta, token…, then done (or error)",
            "content": {"text/event-stream": {"schema": SSE_EVENT}}}
    elif op.ok is not None:
        schema = _ref(refs, op.ok, "serialization")
        if op.ok_list:
            schema = {"type": "array", "items": schema}
        responses[str(op.ok_status)] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    for status, model in op.other_ok:
        responses[str(status)] = {"description": model.__doc__.strip().splitlines()[0] if model.__doc__ else "OK",
                                  "content": {"application/json": {"schema": _ref(refs, model, "serialization")}}}
    error_ref = _ref(refs, ErrorResponse, "serialization")
    codes = (set(op.errors) | set(COMMON_ERRORS) | ({404} if "{" in op.path else set())
             | ({413} if op.body is not None else set()))
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "Error"),
                                "content": {"application/json": {"schema": error_ref}}}
    out["responses"] = responses
    return out


def build_document(operations: list[Operation], *, version: str = "0.1.0") -> dict[str, Any]:
    refs, schemas = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "larkdesk REST API", "version": version,
                 "description": "Chat with the desk, work the agent queue, manage knowledge, read traces. "
                                "Send X-API-Key on every /api route when the server has API_KEY set."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"ApiKeyAuth": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
        },
        "security": [{"ApiKeyAuth": []}],
    }
