"""Helpers for REST API tests: a real app server (aiohttp TestServer from create_app) with a small FAQ
knowledge base, a JSON client for it, and the example scripts loaded or run as a user would."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import aiohttp
import fakeredis
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.services import Services
from config.settings import Settings
from tests.integration.test_knowledge import FAQ

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# Questions the FAQ fixture cannot answer (each is a bot no-answer, not a business or chit-chat intent).
UNKNOWN = ["你们公司明年会上市吗", "你们老板叫什么名字", "公司总部在哪个城市"]


@dataclass
class RestServer:
    server: TestServer
    services: Services
    settings: Settings

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def close(self) -> None:
        await self.server.close()


async def start_rest_server(tmp_path: Path, *, embedder: Any = None, redis: Any = None, faq: bool = True,
                            settings: Settings | None = None, **overrides: Any) -> RestServer:
    """The product's app on a loopback port. `embedder`: the session-scoped fixture, so no model reload."""
    values: dict[str, Any] = {"data_dir": tmp_path, "sample_kb": False, "desk_working_hours": ""}
    values.update(overrides)
    settings = settings or Settings(_env_file=None, **values)
    redis = redis if redis is not None else fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(),
                                                                      decode_responses=True)
    if embedder is not None:
        with mock.patch("rag.service.embedder_from", lambda _settings: embedder):
            services = Services.build(settings, redis=redis)
    else:
        services = Services.build(settings, redis=redis)
    server = TestServer(create_app(settings, services=services))
    await server.start_server()
    if faq:
        path = tmp_path / "faq.jsonl"
        path.write_text(FAQ, encoding="utf-8")
        await services.knowledge.kb.ingest_file(path)
    return RestServer(server, services, settings)


class JsonClient:
    """aiohttp client returning (status, decoded body) for the tests' assertions."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(headers={"X-API-Key": api_key} if api_key else None)

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.base_url + path, **kwargs) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                return response.status, text

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("POST", path, json=body, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kwargs)

    async def close(self) -> None:
        await self.session.close()


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py the way the scripts import each other (their folder on sys.path)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def run_example(script: str, *args: str, timeout_s: float = 60.0) -> tuple[int, str, str]:
    """Run examples/<script> in its own process, as a user would; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, str(EXAMPLES / script), *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()


def last_json_line(text: str) -> dict[str, Any]:
    return json.loads(text.strip().splitlines()[-1])
