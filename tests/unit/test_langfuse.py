"""Langfuse tracing of LLM calls: what reaches Langfuse, that a slow or dead Langfuse never slows an answer, and
that a disabled tracer costs nothing."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from observability import langfuse
from observability.langfuse import LangfuseTracer, current_context, get_tracer, langfuse_context, set_tracer
from observability.metrics import REGISTRY
from rag.llm import LLMClient
from tests.openai_chat_server import OpenAIChatServer

pytestmark = pytest.mark.unit

PK, SK = "pk-lf-test", "sk-lf-test"


class FakeLangfuse:
    """Plays Langfuse's ingestion endpoint on loopback and records every batch it receives."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []  # {"auth": ..., "batch": [...]}
        self.received = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for r in self.requests for e in r["batch"]]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def _ingest(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"auth": request.headers.get("Authorization"), "batch": body["batch"]})
        self.received.set()
        if self.delay_s:
            try:
                await asyncio.wait_for(self._closing.wait(), self.delay_s)
            except TimeoutError:
                pass
        return web.json_response({"successes": [{"id": e["id"], "status": 201} for e in body["batch"]],
                                  "errors": []}, status=207)

    async def __aenter__(self) -> FakeLangfuse:
        app = web.Application()
        app.router.add_post("/api/public/ingestion", self._ingest)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        assert self._runner is not None
        await self._runner.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tokens(model: str, kind: str) -> float:
    return REGISTRY.get_sample_value("larkdesk_llm_tokens_total", {"model": model, "kind": kind}) or 0.0


def _dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("larkdesk_langfuse_dropped_total", {"reason": reason}) or 0.0


@pytest.fixture
async def chat():
    async with OpenAIChatServer() as server:
        yield server


@pytest.fixture
async def llm(chat):
    client = LLMClient(base_url=chat.base_url, api_key="test-key", model="test-model", timeout_s=5)
    yield client
    await client.aclose()


@pytest.fixture
def installed():
    """Installs a tracer as the current one for the test, then restores the disabled default."""
    def install(tracer: LangfuseTracer) -> LangfuseTracer:
        set_tracer(tracer)
        return tracer
    yield install
    set_tracer(None)


def _tracer(host: str, **kwargs: Any) -> LangfuseTracer:
    kwargs = {"timeout_s": 2.0, "flush_interval_s": 0.05, **kwargs}
    return LangfuseTracer(public_key=PK, secret_key=SK, host=host, **kwargs)


async def test_completion_and_stream_reach_langfuse(chat, llm, installed):
    chat.enqueue("您好，退货请联系 13912345678", "Streamed answer text")
    async with FakeLangfuse() as lf:
        tracer = installed(_tracer(lf.host))
        await tracer.start()
        before = _tokens("test-model", "prompt"), _tokens("test-model", "completion")
        with langfuse_context(session_id="sess-42", trace_id="trace-42", prompt_name="rag_answer", prompt_version=3):
            completion = await llm.complete([{"role": "user", "content": "我的手机 13812345678 退货"}])
            with langfuse_context(prompt_name="groundedness_check"):  # nested: only the prompt changes
                assert current_context().session_id == "sess-42"
            stream = llm.stream([{"role": "user", "content": "stream please"}], prompt_name="explicit",
                                prompt_version=7)
            streamed = "".join([d async for d in stream])
        assert current_context() == langfuse.LangfuseContext()  # reset on exit
        await tracer.close()

    assert streamed == "Streamed answer text"
    assert {r["auth"] for r in lf.requests} == {"Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()}
    traces = lf.of_type("trace-create")
    assert len(traces) == 1  # one trace for the turn, however many generations
    assert traces[0]["body"]["id"] == "trace-42" and traces[0]["body"]["sessionId"] == "sess-42"

    gens = [e["body"] for e in lf.of_type("generation-create")]
    assert len(gens) == 2
    first, second = gens
    assert first["traceId"] == second["traceId"] == "trace-42"
    assert first["name"] == "rag_answer" and first["model"] == "test-model"
    assert first["metadata"]["prompt_name"] == "rag_answer" and first["metadata"]["prompt_version"] == 3
    assert first["usage"]["input"] == completion.prompt_tokens > 0
    assert first["usage"]["output"] == completion.completion_tokens > 0
    assert first["input"][-1]["content"] == "我的手机 138****5678 退货"  # masked before it leaves
    assert first["output"] == "您好，退货请联系 139****5678"
    assert "13812345678" not in str(lf.events) and "13912345678" not in str(lf.events)
    start, end = datetime.fromisoformat(first["startTime"]), datetime.fromisoformat(first["endTime"])
    assert start <= end
    # Explicit keyword arguments win over the context; the stream reports once, when it finished.
    assert second["name"] == "explicit" and second["metadata"]["prompt_version"] == 7
    assert second["output"] == "Streamed answer text"
    assert second["usage"]["output"] == stream.completion.completion_tokens > 0
    for event in lf.events:
        assert {"id", "type", "timestamp", "body"} <= event.keys()
    assert _tokens("test-model", "prompt") == before[0] + completion.prompt_tokens + stream.completion.prompt_tokens
    assert _tokens("test-model", "completion") == (
        before[1] + completion.completion_tokens + stream.completion.completion_tokens
    )


async def test_failed_llm_call_is_reported_as_error(chat, llm, installed):
    from tests.openai_chat_server import server_error

    chat.enqueue(server_error())
    async with FakeLangfuse() as lf:
        tracer = installed(_tracer(lf.host))
        await tracer.start()
        with pytest.raises(Exception, match="HTTP 500"):
            await llm.complete([{"role": "user", "content": "hi"}], prompt_name="rag_answer")
        await tracer.close()
    (gen,) = [e["body"] for e in lf.of_type("generation-create")]
    assert gen["level"] == "ERROR" and "500" in gen["statusMessage"]


async def test_stream_stopped_early_reports_once_as_cancelled(chat, llm, installed):
    from tests.openai_chat_server import ChatReply

    chat.enqueue(ChatReply(text="one two three four five six", chunk_chars=4))
    async with FakeLangfuse() as lf:
        tracer = installed(_tracer(lf.host))
        await tracer.start()
        stream = llm.stream([{"role": "user", "content": "hi"}])
        first = await stream.__anext__()
        await stream.aclose()
        await tracer.close()
    (gen,) = [e["body"] for e in lf.of_type("generation-create")]
    assert gen["statusMessage"] == "cancelled" and gen["output"] == first


async def test_batches_of_at_most_batch_size():
    async with FakeLangfuse() as lf:
        tracer = _tracer(lf.host, batch_size=5, flush_interval_s=30)
        await tracer.start()
        now = time.time()
        for i in range(12):
            tracer.generation(name="g", model="m", input=f"q{i}", output="a", start=now, end=now, prompt_tokens=1,
                              completion_tokens=1, trace_id="t")
        # Full batches go out at once, without waiting for the 30 s interval.
        await asyncio.wait_for(lf.received.wait(), 2)
        await tracer.close()
    assert max(len(r["batch"]) for r in lf.requests) <= 5
    assert len(lf.of_type("generation-create")) == 12


@pytest.mark.parametrize("langfuse_state", ["sleeps", "down"])
async def test_slow_or_dead_langfuse_does_not_slow_llm_calls(chat, llm, installed, langfuse_state):
    async with FakeLangfuse(delay_s=10.0) as lf:
        host = lf.host if langfuse_state == "sleeps" else f"http://127.0.0.1:{_free_port()}"
        # The tracer waits on Langfuse for up to 10 s, as long as Langfuse sleeps.
        tracer = installed(_tracer(host, timeout_s=10.0))
        await tracer.start()
        if langfuse_state == "sleeps":
            now = time.time()
            tracer.generation(name="warm", model="m", input="x", output="y", start=now, end=now, prompt_tokens=1,
                              completion_tokens=1)
            await asyncio.wait_for(lf.received.wait(), 2)  # the flush task is now stuck in a 10 s request
        timings = []
        for i in range(3):
            started = time.perf_counter()
            completion = await llm.complete([{"role": "user", "content": f"question {i}"}], prompt_name="rag_answer")
            timings.append(time.perf_counter() - started)
            assert completion.text == "OK"
        assert max(timings) < 1.0, timings  # vs a 10 s Langfuse
        assert tracer.pending > 0 or langfuse_state == "down"

        # close() is bounded by its own timeout, however long Langfuse sleeps.
        tracer.timeout_s = 0.5
        started = time.perf_counter()
        await tracer.close()
        assert time.perf_counter() - started < 2.0
    assert tracer.pending == 0


async def test_dead_langfuse_counts_dropped_events():
    tracer = _tracer(f"http://127.0.0.1:{_free_port()}", timeout_s=1.0)
    before = _dropped("send_failed")
    await tracer.start()
    now = time.time()
    tracer.generation(name="g", model="m", input="x", output="y", start=now, end=now, prompt_tokens=1,
                      completion_tokens=1, trace_id="t")
    await tracer.close()
    assert tracer.dropped == 2 and _dropped("send_failed") == before + 2  # trace-create + generation


async def test_full_queue_drops_and_counts():
    tracer = _tracer("http://127.0.0.1:1", max_queue=3)
    before = _dropped("queue_full")
    now = time.time()
    for _ in range(5):  # not started: nothing drains the queue
        tracer.generation(name="g", model="m", input="x", output="y", start=now, end=now, prompt_tokens=1,
                          completion_tokens=1, trace_id="same")
    assert tracer.pending == 3  # trace-create + 2 generations
    assert tracer.dropped == 3 and _dropped("queue_full") == before + 3


def _settings(**overrides: Any) -> SimpleNamespace:
    base = {"langfuse_enabled": True, "langfuse_public_key": PK, "langfuse_secret_key": SK,
            "langfuse_host": "http://127.0.0.1:1/", "langfuse_timeout_s": 1.5}
    return SimpleNamespace(**{**base, **overrides})


def test_from_settings_enabled_only_with_both_keys():
    from config.settings import Settings

    assert {"langfuse_enabled", "langfuse_public_key", "langfuse_secret_key", "langfuse_host",
            "langfuse_timeout_s"} <= set(Settings.model_fields)
    tracer = LangfuseTracer.from_settings(_settings())
    assert tracer.enabled and tracer.url == "http://127.0.0.1:1/api/public/ingestion" and tracer.timeout_s == 1.5
    assert not LangfuseTracer.from_settings(_settings(langfuse_enabled=False)).enabled
    assert not LangfuseTracer.from_settings(_settings(langfuse_public_key="")).enabled
    assert not LangfuseTracer.from_settings(_settings(langfuse_secret_key="")).enabled


async def test_disabled_tracer_creates_no_task_or_session(chat, llm, installed, monkeypatch):
    created: list[str] = []
    real_create_task, real_session = asyncio.create_task, aiohttp.ClientSession

    def spy_task(coro: Any, **kwargs: Any) -> asyncio.Task:
        created.append(getattr(coro, "__qualname__", repr(coro)))
        return real_create_task(coro, **kwargs)

    def spy_session(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        created.append("ClientSession")
        return real_session(*args, **kwargs)

    tracer = installed(LangfuseTracer.from_settings(_settings(langfuse_enabled=False)))
    assert get_tracer() is tracer and not tracer.enabled
    monkeypatch.setattr(asyncio, "create_task", spy_task)
    monkeypatch.setattr(aiohttp, "ClientSession", spy_session)
    await tracer.start()
    with langfuse_context(session_id="s"):
        completion = await llm.complete([{"role": "user", "content": "hi"}])
        stream = llm.stream([{"role": "user", "content": "hi"}])
        assert "".join([d async for d in stream]) == "OK"
    now = time.time()
    tracer.generation(name="g", model="m", input="x", output="y", start=now, end=now, prompt_tokens=1,
                      completion_tokens=1)
    await tracer.close()
    assert completion.text == "OK"
    assert not [c for c in created if "Langfuse" in c or c == "ClientSession"], created
    assert tracer.pending == 0 and tracer._task is None and tracer._session is None

    # The spies do see an enabled tracer's task and session: the check above can fail.
    enabled = _tracer("http://127.0.0.1:1")
    await enabled.start()
    await enabled.close()
    assert "ClientSession" in created and any("LangfuseTracer._run" in c for c in created), created


def test_default_tracer_is_disabled():
    set_tracer(None)
    assert not get_tracer().enabled
