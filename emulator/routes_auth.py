"""Auth (tenant / app access tokens) and bot info."""

from __future__ import annotations

import hmac

from aiohttp import web

from emulator import crypto
from emulator.httputil import FeishuError, envelope, json_body
from emulator.keys import SERVICE

routes = web.RouteTableDef()


def _check_app(request: web.Request, body: dict) -> None:
    cfg = request.app[SERVICE].config
    app_id, secret = body.get("app_id"), body.get("app_secret")
    if not isinstance(app_id, str) or not app_id or not isinstance(secret, str) or not secret:
        raise FeishuError(10003, "invalid param", 400)
    if app_id != cfg.app_id:
        raise FeishuError(10003, "invalid param: app_id not found", 400)
    if not hmac.compare_digest(secret.encode(), cfg.app_secret.encode()):
        raise FeishuError(10014, "app secret invalid", 400)


@routes.post("/open-apis/auth/v3/tenant_access_token/internal")
async def tenant_access_token(request: web.Request) -> web.Response:
    body = await json_body(request)
    _check_app(request, body)
    cfg = request.app[SERVICE].config
    token = crypto.issue_tenant_token(cfg.app_id, cfg.app_secret)
    return envelope(0, "ok", tenant_access_token=token, expire=cfg.token_ttl_s)


@routes.post("/open-apis/auth/v3/app_access_token/internal")
async def app_access_token(request: web.Request) -> web.Response:
    body = await json_body(request)
    _check_app(request, body)
    cfg = request.app[SERVICE].config
    token = "a-" + crypto.issue_tenant_token(cfg.app_id, cfg.app_secret + ":app")[2:]
    tenant = crypto.issue_tenant_token(cfg.app_id, cfg.app_secret)
    return envelope(0, "ok", app_access_token=token, tenant_access_token=tenant, expire=cfg.token_ttl_s)


@routes.get("/open-apis/bot/v3/info")
async def bot_info(request: web.Request) -> web.Response:
    cfg = request.app[SERVICE].config
    bot = {
        "activate_status": 2,
        "app_name": cfg.bot_name,
        "avatar_url": "",
        "ip_white_list": [],
        "open_id": cfg.bot_open_id,
    }
    return envelope(0, "ok", bot=bot)
