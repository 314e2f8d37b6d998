"""The aiohttp application: middleware (log id, request log, faults, auth, JSON errors) and routes."""

from __future__ import annotations

import asyncio
import json
import time

import structlog
from aiohttp import web

from emulator import crypto, ids
from emulator.httputil import FeishuError, control_json, envelope, rate_limited
from emulator.keys import SERVICE
from emulator.service import EmulatorError, EmulatorService
from emulator.state import RequestRecord

log = structlog.get_logger("emulator")

API_PREFIX = "/open-apis/"
NO_AUTH_PREFIX = "/open-apis/auth/v3/"


def _body_for_log(raw: bytes):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:2000].decode("utf-8", errors="replace")


async def _apply_fault(service: EmulatorService, request: web.Request) -> None:
    fault = service.faults.take(request.method, request.path)
    if fault is None:
        return
    if fault.kind == "delay":
        await asyncio.sleep(fault.delay_s)
    elif fault.kind == "rate_limit":
        raise rate_limited(fault.reset_s, status=fault.status or 429)
    elif fault.kind == "server_error":
        status = fault.status or 500
        raise FeishuError(status, "internal server error (injected fault)", status)


def _check_auth(service: EmulatorService, request: web.Request) -> None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        raise FeishuError(
            99991661, "Missing access token for authorization. Please make a request with token attached.", 400
        )
    cfg = service.config
    if not crypto.verify_tenant_token(auth[7:].strip(), cfg.app_id, cfg.app_secret, cfg.token_ttl_s):
        raise FeishuError(
            99991663, "Invalid access token for authorization. Please make a request with token attached.", 401
        )


@web.middleware
async def feishu_middleware(request: web.Request, handler):
    service: EmulatorService = request.app[SERVICE]
    logid = ids.log_id()
    is_api = request.path.startswith(API_PREFIX)
    record = None
    if is_api:
        raw = await request.read()
        record = RequestRecord(
            request.method, request.path, dict(request.query), _body_for_log(raw), time.time(), log_id=logid
        )
        service.state.requests.append(record)
    try:
        if is_api:
            await _apply_fault(service, request)
            if not request.path.startswith(NO_AUTH_PREFIX):
                _check_auth(service, request)
        resp = await handler(request)
    except FeishuError as exc:
        resp = envelope(exc.code, exc.msg, status=exc.status)
        resp.headers.update(exc.headers)
    except EmulatorError as exc:
        resp = control_json({"error": str(exc)}, exc.status)
    except web.HTTPException as exc:
        if is_api:
            resp = envelope(exc.status, f"{exc.status} {exc.reason}", status=exc.status)
        else:
            resp = control_json({"error": f"{exc.status} {exc.reason}"}, exc.status)
    except Exception as exc:
        log.exception("emulator.handler_error", path=request.path, error=str(exc))
        resp = (
            envelope(500, "internal server error", status=500)
            if is_api
            else control_json({"error": f"{type(exc).__name__}: {exc}"}, 500)
        )
    if not resp.prepared:  # a WebSocket (long connection) has sent its headers already
        resp.headers["X-Tt-Logid"] = logid
    if record is not None:
        record.status = resp.status
        try:
            record.code = json.loads(resp.body).get("code")  # type: ignore[arg-type]
        except (ValueError, TypeError, AttributeError):
            record.code = None
        log.debug("emulator.request", method=request.method, path=request.path, status=resp.status, code=record.code)
    return resp


def build_app(service: EmulatorService) -> web.Application:
    from emulator import (
        control,
        longconn,
        routes_auth,
        routes_cardkit,
        routes_docx,
        routes_im,
        routes_simulator,
        routes_wiki_drive,
    )

    app = web.Application(middlewares=[feishu_middleware], client_max_size=4 * 1024 * 1024)
    app[SERVICE] = service
    for module in (routes_auth, routes_im, routes_cardkit, routes_docx, routes_wiki_drive, control, routes_simulator):
        app.add_routes(module.routes)
    app.router.add_post(longconn.ENDPOINT_PATH, service.longconn.endpoint)
    app.router.add_get(longconn.WS_PATH, service.longconn.websocket)

    async def close_streams(_app: web.Application) -> None:
        await service.longconn.close()
        await service.live.close()

    app.on_shutdown.append(close_streams)
    return app
