"""/healthz (the process is up), /readyz (dependencies reachable) and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from observability.metrics import REGISTRY

ReadinessCheck = Callable[[], Awaitable[object]]
READINESS_CHECKS = web.AppKey("readiness_checks", dict)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, ReadinessCheck] = request.app[READINESS_CHECKS]
    results = await asyncio.gather(*(_run(check) for check in checks.values()))
    report = dict(zip(checks, results, strict=True))
    ready = all(v == "ok" for v in report.values())
    return web.json_response({"status": "ready" if ready else "not_ready", "checks": report},
                             status=200 if ready else 503)


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _run(check: ReadinessCheck, timeout_s: float = 2.0) -> str:
    try:
        await asyncio.wait_for(check(), timeout_s)
        return "ok"
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return f"error: {type(exc).__name__}: {exc}"[:200]


def add_health_routes(app: web.Application, checks: dict[str, ReadinessCheck]) -> None:
    app[READINESS_CHECKS] = checks
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
