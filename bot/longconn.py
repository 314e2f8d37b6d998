"""Long-connection event mode: `lark.ws.Client` in its own thread, feeding the same queue as the webhook.

The SDK keeps a module-level `loop` and calls `run_until_complete` on it, so it cannot run inside the
aiohttp loop (SDK issues #96 #119 #133). `SdkThread` gives each client a thread with its own loop and
replaces the module-level `loop` with a proxy resolving to the calling thread's loop, so several clients
can live in one process. `LongConnection` hands the SDK a duck-typed handler: for each EVENT frame the SDK
calls `_do_without_validation(payload)`; normal events are enqueued (on the main loop) exactly as the
webhook does, `card.action.trigger` runs the registered callback handler and its dict becomes the answer.
The SDK drops frames of type "card" without answering; Feishu sends new-style card callbacks as "event"
frames, which is the path handled here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as sdk_ws
import structlog

from bot.intake import EventIntake
from config.settings import Settings
from feishu.events import FeishuEvent
from observability.logging import bind_ids, clear_ids

log = structlog.get_logger("bot.longconn")

class _ThreadLoops:
    """Stands in for `lark_oapi.ws.client.loop`: attribute access goes to the calling thread's loop."""

    def __init__(self, fallback: asyncio.AbstractEventLoop) -> None:
        self._fallback = fallback
        self._local = threading.local()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._local.loop = loop

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(self._local, "loop", None) or self._fallback, name)


_install_lock = threading.Lock()


def _thread_loops() -> _ThreadLoops:
    with _install_lock:
        current = sdk_ws.loop
        if not isinstance(current, _ThreadLoops):
            current = _ThreadLoops(current)
            sdk_ws.loop = current
        return current


class WsClient(lark.ws.Client):
    """The SDK client, telling its owner (`SdkThread`) when a connection is up."""

    on_connected: Callable[[], None] = staticmethod(lambda: None)

    async def _connect(self) -> None:
        await super()._connect()
        if self._conn is not None:
            self.on_connected()


class SdkThread:
    """Runs one `lark.ws.Client` until `stop()`; `build()` runs inside the thread (the SDK binds to its loop).

    Build a `WsClient` so that `start()` can wait for the first connection.
    """

    def __init__(self, build: Callable[[], lark.ws.Client], *, name: str = "larkdesk-longconn") -> None:
        self._build = build
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_ready = threading.Event()
        self._stopping = False
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self.client: lark.ws.Client | None = None
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self.client is not None and getattr(self.client, "_conn", None) is not None

    async def start(self, ready_timeout_s: float = 5.0) -> None:
        """Start the thread and wait for the first connection.

        Raises what the SDK raised when it gave up at once (wrong credentials); when the first connection
        is only slow, logs a warning and returns while the SDK keeps retrying.
        """
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._ready), ready_timeout_s)
        except TimeoutError:
            log.warning("longconn.not_connected_yet", waited_s=ready_timeout_s)

    def _connected(self) -> None:
        self.connects += 1
        if not self._ready.done():
            self._ready.set_result(None)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # the SDK's ExpiringCache binds its cron task to this loop
        _thread_loops().bind(loop)
        self._loop = loop
        self._loop_ready.set()
        try:
            if self._stopping:
                return
            client = self._build()
            if isinstance(client, WsClient):
                client.on_connected = self._connected
            self.client = client
            client.start()
        except (asyncio.CancelledError, KeyboardInterrupt):
            pass
        except Exception as exc:
            if not self._stopping:
                log.error("longconn.failed", error=f"{type(exc).__name__}: {exc}")
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            if not self._ready.done():
                self._ready.set_exception(RuntimeError("long connection stopped"))
            self._close_loop(loop)

    @staticmethod
    def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
        # CancelledError is a BaseException: a task cancelled while the loop winds down must not escape the thread.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    async def _shutdown(self) -> None:
        """On the SDK loop: stop its tasks, close the socket, then end `start()`'s wait."""
        client = self.client
        if client is not None:
            client._auto_reconnect = False
        me = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not me]
        waits = [t for t in others if getattr(t.get_coro(), "__name__", "") == "_select"]
        work = [t for t in others if t not in waits]
        for task in work:
            task.cancel()
        await asyncio.gather(*work, return_exceptions=True)
        conn = getattr(client, "_conn", None)
        if conn is not None:
            client._conn = None  # type: ignore[union-attr]
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2.0)
        for task in waits:
            task.cancel()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Close the connection and end the thread (without blocking the calling loop)."""
        thread = self._thread
        if thread is None or self._stopping:
            return
        self._stopping = True
        await asyncio.to_thread(self._loop_ready.wait, timeout_s)
        loop = self._loop
        if loop is not None and loop.is_running():  # a loop that already ended (refused at start) needs nothing
            shutdown = self._shutdown()
            try:
                asyncio.run_coroutine_threadsafe(shutdown, loop)
            except RuntimeError:  # the loop closed in between: nothing left to shut down
                shutdown.close()
        await asyncio.to_thread(thread.join, timeout_s)
        if thread.is_alive():
            log.warning("longconn.thread_still_running", timeout_s=timeout_s)


class _FrameHandler:
    """The object the SDK calls for every EVENT frame; its return value is the answer's `data`."""

    def __init__(self, owner: LongConnection) -> None:
        self._owner = owner

    def _do_without_validation(self, payload: bytes) -> dict[str, Any] | None:
        return self._owner.handle_payload(payload)


class LongConnection:
    """Receives Feishu events over the long connection and hands them to the same intake as the webhook."""

    def __init__(self, settings: Settings, intake: EventIntake, *, enqueue_timeout_s: float = 2.5) -> None:
        self.settings = settings
        self.intake = intake
        self.enqueue_timeout_s = enqueue_timeout_s
        self._main_loop: asyncio.AbstractEventLoop | None = None
        self._thread = SdkThread(self._build_client)

    @property
    def connected(self) -> bool:
        return self._thread.connected

    @property
    def alive(self) -> bool:
        """The SDK thread runs (it reconnects by itself; a thread that ended needs a restart)."""
        thread = self._thread._thread
        return thread is not None and thread.is_alive()

    async def restart(self) -> None:
        """A fresh SDK thread in place of one that ended (the supervisor calls this)."""
        await self._thread.stop()
        self._thread = SdkThread(self._build_client)
        await self._thread.start()

    def _build_client(self) -> lark.ws.Client:
        s = self.settings
        level = getattr(lark.LogLevel, s.log_level.upper(), lark.LogLevel.INFO)
        return WsClient(
            s.feishu_app_id,
            s.feishu_app_secret,
            log_level=level,
            event_handler=_FrameHandler(self),  # type: ignore[arg-type]
            domain=s.feishu_domain,
        )

    async def start(self, ready_timeout_s: float = 5.0) -> None:
        self._main_loop = asyncio.get_running_loop()
        log.info("longconn.starting", domain=self.settings.feishu_domain)
        await self._thread.start(ready_timeout_s)

    async def stop(self) -> None:
        await self._thread.stop()
        log.info("longconn.stopped")

    # called in the SDK thread

    def handle_payload(self, payload: bytes) -> dict[str, Any] | None:
        """Answer one EVENT frame; raising makes the SDK answer 500, so Feishu re-pushes the event."""
        data = json.loads(payload)
        event_id, event_type = _identify(data)
        if not event_type:
            log.warning("longconn.not_an_event")
            return None
        event = FeishuEvent(event_id, event_type, data)
        if self.intake.is_callback(event_type):
            return self._on_main_loop(self._with_ids(event, self.intake.answer_callback(event)),
                                      self.intake.callback_timeout_s + 0.4)
        self._on_main_loop(self._with_ids(event, self.intake.accept(event)), self.enqueue_timeout_s)
        return None

    def _on_main_loop(self, coro: Coroutine[Any, Any, Any], timeout_s: float) -> Any:
        if self._main_loop is None or self._main_loop.is_closed():
            coro.close()
            raise RuntimeError("long connection is not attached to a running loop")
        future = asyncio.run_coroutine_threadsafe(coro, self._main_loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    @staticmethod
    async def _with_ids(event: FeishuEvent, work: Coroutine[Any, Any, Any]) -> Any:
        bind_ids(event_id=event.event_id, event_type=event.event_type)
        try:
            return await work
        finally:
            clear_ids()


def _identify(payload: Any) -> tuple[str, str]:
    """(event_id, event_type) of a schema 2.0 or 1.0 event; ("", "") for anything else."""
    if not isinstance(payload, dict):
        return "", ""
    header = payload.get("header")
    if isinstance(header, dict):
        return str(header.get("event_id") or ""), str(header.get("event_type") or "")
    event = payload.get("event")
    if payload.get("uuid") and isinstance(event, dict):
        return str(payload["uuid"]), str(event.get("type") or "")
    return "", ""
