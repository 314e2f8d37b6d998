"""One error shape for every REST failure: `{"status": "error", "error": {"code", "message"}}`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

API_PREFIX = "/api/"

# aiohttp's own HTTP errors (unknown route, wrong method, body too large) mapped to a stable code.
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
               422: "validation_error", 503: "unavailable"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def conflict(message: str, **details: Any) -> ApiError:
    return ApiError(409, "conflict", message, **details)


def validation_error(message: str, **details: Any) -> ApiError:
    return ApiError(422, "validation_error", message, **details)


def unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"status": "error", "error": error}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(code, message, details), status=status, headers=headers)


def from_http_exception(exc: web.HTTPException) -> web.Response:
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
    return error_response(exc.status, _HTTP_CODES.get(exc.status, "http_error"), message, headers=headers)
