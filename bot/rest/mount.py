"""Mounts the REST API on the app: middlewares, the routes of every area, /openapi.json and /docs."""

from __future__ import annotations

import structlog
from aiohttp import web

from bot.rest.agents import AgentRoutes
from bot.rest.chat import ChatRoutes
from bot.rest.docs_page import render_docs
from bot.rest.knowledge import KnowledgeRoutes
from bot.rest.learned import LearnedRoutes
from bot.rest.middleware import api_key_middleware, error_middleware
from bot.rest.monitor import MonitorRoutes
from bot.rest.openapi import build_document
from bot.rest.privacy import PrivacyRoutes
from bot.rest.spec import JSON_LIMITS, JsonLimits, Operation
from bot.rest.uploads import sweep_stale_temp_folders
from bot.services import Services

log = structlog.get_logger("bot.rest")

OPERATIONS = web.AppKey("rest_operations", list)


def _areas(services: Services) -> tuple:
    return (ChatRoutes(services), AgentRoutes(services), KnowledgeRoutes(services), LearnedRoutes(services),
            MonitorRoutes(services), PrivacyRoutes(services))


def rest_operations(services: Services) -> list[Operation]:
    return [op for area in _areas(services) for op in area.operations()]


def mount_rest_api(app: web.Application, services: Services) -> list[Operation]:
    areas = _areas(services)
    operations = [op for area in areas for op in area.operations()]
    settings = services.settings
    app[JSON_LIMITS] = JsonLimits(max_bytes=settings.api_max_json_bytes, max_depth=settings.json_max_depth)
    sweep_stale_temp_folders()  # what a killed process left behind

    async def close_areas(_app: web.Application) -> None:  # background ingest jobs
        for area in areas:
            if hasattr(area, "close"):
                await area.close()

    app.on_shutdown.append(close_areas)
    app.middlewares.append(error_middleware())
    app.middlewares.append(api_key_middleware(services.settings.api_key))
    for op in operations:
        app.router.add_route(op.method, op.path, op.handler, name=op.operation_id)
    document = build_document(operations)
    page = render_docs(document)

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(document)

    async def docs(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)
    app[OPERATIONS] = operations
    if not services.settings.api_key:
        log.warning("api.open_mode", hint="API_KEY is not set: /api/v1 accepts requests without X-API-Key "
                                          "(development mode); set API_KEY in production")
    return operations
