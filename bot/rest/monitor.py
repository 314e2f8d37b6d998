"""/api/v1/monitor/traces (per-turn traces) and /api/v1/performance/cache/invalidate."""

from __future__ import annotations

from aiohttp import web

from bot.rest.errors import not_found
from bot.rest.models import CacheCleared, TracesResponse, TraceView
from bot.rest.spec import Operation, QueryParam, dump, query_int
from bot.services import Services

TRACE_LIMIT = QueryParam("limit", 1, 500, 20, "the newest this many")


class MonitorRoutes:
    def __init__(self, services: Services) -> None:
        self.traces = services.desk.traces
        self.cache = services.knowledge.cache

    async def list_traces(self, request: web.Request) -> web.Response:
        traces = await self.traces.recent(query_int(request, TRACE_LIMIT))
        return dump(TracesResponse, {"traces": traces, "total": len(traces)})

    async def get_trace(self, request: web.Request) -> web.Response:
        trace_id = request.match_info["trace_id"]
        trace = await self.traces.get(trace_id)
        if trace is None:
            raise not_found(f"trace {trace_id} not found (or expired)")
        return dump(TraceView, trace)

    async def invalidate_cache(self, _request: web.Request) -> web.Response:
        return dump(CacheCleared, {"cleared": await self.cache.clear()})

    def operations(self) -> list[Operation]:
        return [
            Operation("GET", "/api/v1/monitor/traces", self.list_traces, "Recent conversation turns, newest first",
                      "monitor", TracesResponse, query=(TRACE_LIMIT,)),
            Operation("GET", "/api/v1/monitor/traces/{trace_id}", self.get_trace, "One turn's steps and timings",
                      "monitor", TraceView),
            Operation("POST", "/api/v1/performance/cache/invalidate", self.invalidate_cache,
                      "Drop every cached answer", "performance", CacheCleared),
        ]
