"""The route table: each operation declares its method, path, handler and models once; the app registers
routes from it and /openapi.json is generated from it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot.rest.errors import ApiError, bad_request, validation_error
from feishu.safe_json import DEFAULT_MAX_DEPTH, JsonRejected, loads_bounded

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class JsonLimits:
    """REST JSON bodies: checked before parsing (API_MAX_JSON_BYTES, API_MAX_JSON_DEPTH)."""

    max_bytes: int = 1024 * 1024
    max_depth: int = DEFAULT_MAX_DEPTH


JSON_LIMITS = web.AppKey("rest_json_limits", JsonLimits)


@dataclass(frozen=True)
class QueryParam:
    name: str
    minimum: int
    maximum: int
    default: int
    description: str = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    ok: type[BaseModel] | None  # the success body (None: see `ok_list` / `stream`)
    ok_status: int = 200
    ok_list: bool = False  # the success body is a JSON list of `ok`
    stream: bool = False  # text/event-stream
    body: type[BaseModel] | None = None
    multipart: bool = False
    body_optional: bool = False
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = ()  # besides the ones every API route may answer
    description: str = ""
    extra_schemas: tuple[type[BaseModel], ...] = field(default=())  # documented, e.g. the SSE event payloads
    other_ok: tuple[tuple[int, type[BaseModel]], ...] = ()  # further success answers, e.g. 202 + a job

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")


def _error_summary(exc: ValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [{"loc": ".".join(str(p) for p in e["loc"]) or "body", "msg": e["msg"], "type": e["type"]}
              for e in exc.errors(include_url=False, include_context=False, include_input=False)]
    message = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:5])
    return message, errors


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, errors = _error_summary(exc)
        raise validation_error(message, errors=errors) from None


async def parse_body(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    """JSON body → model. Over API_MAX_JSON_BYTES is 413; malformed or nested deeper than API_MAX_JSON_DEPTH is
    400; valid JSON of the wrong shape or types is 422."""
    limits = request.config_dict.get(JSON_LIMITS) or JsonLimits()
    raw = await _read_limited(request, limits.max_bytes)
    if not raw.strip():
        if optional:
            return model()
        raise validation_error("a JSON request body is required", errors=[{"loc": "body", "msg": "missing"}])
    try:
        data = loads_bounded(raw, max_bytes=limits.max_bytes, max_depth=limits.max_depth)
    except JsonRejected as exc:
        if exc.status == 413:
            raise _too_large(limits.max_bytes) from None
        raise bad_request(f"malformed JSON body: {exc.reason}") from None
    return validate(model, data)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"JSON bodies are limited to {max_bytes} bytes (API_MAX_JSON_BYTES)",
                    limit="API_MAX_JSON_BYTES", max=max_bytes)


async def _read_limited(request: web.Request, max_bytes: int) -> bytes:
    """The body, refused as soon as it is known to be too large (declared or streamed)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def query_int(request: web.Request, param: QueryParam) -> int:
    raw = request.query.get(param.name)
    if raw is None:
        return param.default
    try:
        value = int(raw)
    except ValueError:
        raise validation_error(f"{param.name}: must be an integer") from None
    if not param.minimum <= value <= param.maximum:
        raise validation_error(f"{param.name}: must be between {param.minimum} and {param.maximum}")
    return value


def dump(model: type[BaseModel], value: Any, status: int = 200) -> web.Response:
    """A success body, checked against its documented model (a desk change that breaks it fails loudly)."""
    body = model.model_validate(value).model_dump(mode="json", exclude_unset=True)
    return web.json_response(body, status=status, dumps=_dumps)


def dump_list(model: type[BaseModel], values: list[Any]) -> web.Response:
    body = [model.model_validate(v).model_dump(mode="json", exclude_unset=True) for v in values]
    return web.json_response(body, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
