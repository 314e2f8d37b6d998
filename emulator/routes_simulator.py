"""The Feishu simulator page at `/`: plain ES modules and CSS served as they are (no build step), and the
read-only live feed they listen to."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from emulator.keys import SERVICE

STATIC_DIR = Path(__file__).resolve().parent / "static"
STREAM_PATH = "/_emulator/stream"
# The modules change with the emulator: a browser asks again (304 when unchanged) instead of guessing.
NO_CACHE = {"Cache-Control": "no-cache"}

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=NO_CACHE)


@routes.get("/simulator/{path:.+}")
async def static_file(request: web.Request) -> web.FileResponse:
    path = (STATIC_DIR / request.match_info["path"]).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers=NO_CACHE)


@routes.get(STREAM_PATH)
async def stream(request: web.Request) -> web.StreamResponse:
    return await request.app[SERVICE].live.stream(request)
