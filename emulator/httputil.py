"""Feishu's JSON envelope and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web


class FeishuError(Exception):
    """An API error answered as `{"code","msg"}` with an HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}


def invalid_param(msg: str) -> FeishuError:
    return FeishuError(99992402, f"field validation failed: {msg}", 400)


def rate_limited(reset_s: float = 1, limit: int | None = None, status: int = 429) -> FeishuError:
    headers = {"x-ogw-ratelimit-reset": str(max(1, round(reset_s)))}
    if limit is not None:
        headers["x-ogw-ratelimit-limit"] = str(limit)
    return FeishuError(99991400, "request trigger frequency limit", status, headers)


def envelope(code: int = 0, msg: str = "success", data: Any = None, status: int = 200, **top: Any) -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if data is not None:
        body["data"] = data
    body.update(top)
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def ok(data: Any = None, msg: str = "success") -> web.Response:
    return envelope(0, msg, {} if data is None else data)


def parse_json_object(raw: bytes, error: Callable[[str], Exception]) -> dict:
    """A JSON object body (absent → {}); anything else raises `error(reason)`."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise error(f"invalid json body: {exc}") from exc
    if not isinstance(body, dict):
        raise error("json body must be an object")
    return body


async def json_body(request: web.Request) -> dict:
    """The JSON object body of an Open API call; an absent body is {}."""
    return parse_json_object(await request.read(), lambda reason: FeishuError(9499, f"Bad Request: {reason}", 400))


def require_str(body: dict, key: str, *, allow_empty: bool = False) -> str:
    value = body.get(key)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise invalid_param(f"{key} is required (string)")
    return value


def control_json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))
