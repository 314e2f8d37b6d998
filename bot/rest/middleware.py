"""REST middlewares: the API key check, and turning every failure under /api into the JSON error shape."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import redis.exceptions
import structlog
from aiohttp import web

from bot.rest.errors import API_PREFIX, ApiError, error_response, from_http_exception
from desk.sessions import SessionNotFound, TransitionRefused
from rag.milvus import StoreUnavailable

log = structlog.get_logger("bot.rest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_KEY_HEADER = "X-API-Key"


def _is_api(request: web.Request) -> bool:
    return request.path.startswith(API_PREFIX)


def error_middleware() -> web.middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not _is_api(request):
            return await handler(request)
        if not _encodable(request.path) or not _encodable(request.query_string):
            return error_response(400, "bad_request", "the URL is not valid UTF-8")
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.details)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return from_http_exception(exc)
        except SessionNotFound as exc:
            return error_response(404, "session_not_found", str(exc))
        except TransitionRefused as exc:
            return error_response(409, "conflict", exc.reason,
                                  {"state": exc.current, "holder_id": exc.agent_id, "wanted": exc.wanted})
        except StoreUnavailable as exc:
            log.warning("rest.vector_store_unavailable", path=request.path, error=str(exc))
            return error_response(503, "vector_store_unavailable", "the knowledge store is unavailable; retry later",
                                  headers={"Retry-After": "5"})
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            log.warning("rest.redis_unavailable", path=request.path, error=str(exc))
            return error_response(503, "redis_unavailable", "session storage is unavailable; retry later",
                                  headers={"Retry-After": "5"})
        except Exception:  # a bug, never client input: logged with its stack, answered in the same shape
            log.exception("rest.internal_error", path=request.path, method=request.method)
            return error_response(500, "internal_error", "internal error")

    return middleware


def _encodable(text: str) -> bool:
    """False for lone surrogates (undecodable percent-escapes): they cannot become Redis keys or log lines."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def api_key_middleware(api_key: str) -> web.middleware:
    """Every /api route needs `X-API-Key` when API_KEY is set; /openapi.json, /docs and /healthz never do."""
    expected = api_key.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected and _is_api(request):
            raw = request.headers.get(API_KEY_HEADER, "")
            # A key is ASCII: anything else (raw bytes such as \xff\xfe) is simply the wrong key.
            given = raw.encode() if raw.isascii() else b"\x00"
            if not hmac.compare_digest(given, expected):
                code = "missing_api_key" if not raw else "invalid_api_key"
                return error_response(401, code, f"a valid {API_KEY_HEADER} header is required",
                                      headers={"WWW-Authenticate": API_KEY_HEADER})
        return await handler(request)

    return middleware
