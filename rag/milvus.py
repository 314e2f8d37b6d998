"""Connects to the vector store: a Milvus Lite file (embedded default) or a Milvus server by URI."""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import grpc
import structlog
from pymilvus import MilvusClient
from pymilvus.exceptions import ConnectError, ConnectionConfigException, MilvusException, MilvusUnavailableException

from config.settings import Settings

log = structlog.get_logger("rag.milvus")

T = TypeVar("T")

# gRPC statuses that mean "the store is not there", as opposed to "the request was wrong".
_UNAVAILABLE_GRPC = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_UNAVAILABLE_HINTS = ("fail connecting", "server unavailable", "connection refused", "deadline exceeded")
_RELEASED = re.compile(r"[Cc]ollection '?([A-Za-z0-9_]+)'? (?:is in state 'released'|not loaded)")


class StoreError(Exception):
    """A vector-store operation failed."""


class StoreUnavailable(StoreError):
    """The vector store cannot be reached (down, wrong URI, or too slow to answer)."""


# Milvus Lite runs one in-process engine per .db file and keeps it (and the file lock) until process exit.
# Open connections are counted per file so the last close stops the engine: the file is then released.
_local_refs: dict[str, int] = {}
_local_lock = threading.Lock()


def is_local(uri: str) -> bool:
    return uri.endswith(".db")


def _acquire_local(uri: str) -> None:
    with _local_lock:
        path = os.path.abspath(uri)
        _local_refs[path] = _local_refs.get(path, 0) + 1


def _release_local(uri: str) -> None:
    path = os.path.abspath(uri)
    with _local_lock:
        left = _local_refs.get(path, 0) - 1
        if left > 0:
            _local_refs[path] = left
            return
        _local_refs.pop(path, None)
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(path)


def milvus_uri(settings: Settings) -> str:
    """`MILVUS_URI` when set (http://host:19530 or a .db path), else `DATA_DIR/milvus.db`."""
    if settings.milvus_uri:
        return settings.milvus_uri
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return str(Path(settings.data_dir) / "milvus.db")


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, StoreUnavailable | ConnectError | MilvusUnavailableException | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, ConnectionConfigException):  # e.g. a Milvus Lite file locked by another process
        return True
    if isinstance(exc, grpc.RpcError) and getattr(exc, "code", None) and exc.code() in _UNAVAILABLE_GRPC:
        return True
    if isinstance(exc, MilvusException):
        # pymilvus reports a refused/lost connection as a plain MilvusException with code 2.
        return exc.code == 2 or any(hint in str(exc.message).lower() for hint in _UNAVAILABLE_HINTS)
    return False


class MilvusConnection:
    """Opens the client lazily in a thread (Milvus Lite starts a local engine; calls block).

    `run` is the one way to call pymilvus: in a thread, bounded by `timeout_s`, with failures mapped to
    `StoreUnavailable` (cannot reach the store) or `StoreError` (the store refused the request).
    """

    def __init__(self, uri: str, *, timeout_s: float = 10.0) -> None:
        self.uri = uri
        self.timeout_s = timeout_s
        self._client: MilvusClient | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> MilvusClient:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await self._in_thread(lambda: MilvusClient(self.uri, timeout=self.timeout_s))
                    if is_local(self.uri):
                        _acquire_local(self.uri)
        return self._client

    async def run(self, call: Callable[[MilvusClient], T], *, timeout_s: float | None = None) -> T:
        client = await self.client()
        try:
            return await self._in_thread(lambda: call(client), timeout_s=timeout_s)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            # A Milvus server that restarted comes back with its collections released: load and ask again.
            released = _RELEASED.search(str(exc))
            if released is None:
                raise
            name = released.group(1)
            log.warning("milvus.collection_released", collection=name, uri=self.uri)
            await self._in_thread(lambda: client.load_collection(name), timeout_s=max(timeout_s or 0, 60))
            return await self._in_thread(lambda: call(client), timeout_s=timeout_s)

    async def ping(self) -> None:
        await self.run(lambda c: c.list_collections(timeout=self.timeout_s))

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await asyncio.wait_for(asyncio.to_thread(client.close), self.timeout_s)
                if is_local(self.uri):
                    await asyncio.wait_for(asyncio.to_thread(_release_local, self.uri), self.timeout_s)
            except Exception as exc:  # closing a dead connection must not fail shutdown
                log.warning("milvus.close_failed", uri=self.uri, error=str(exc))

    async def _in_thread(self, call: Callable[[], T], *, timeout_s: float | None = None) -> T:
        limit = timeout_s or self.timeout_s
        try:
            # The thread may outlive the timeout; we stop waiting so the caller never hangs on a dead store.
            return await asyncio.wait_for(asyncio.to_thread(call), limit)
        except StoreError:
            raise
        except TimeoutError as exc:
            raise StoreUnavailable(f"vector store at {self.uri} did not answer within {limit:g} s") from exc
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailable(f"vector store at {self.uri} is unavailable: {_message(exc)}") from exc
            raise StoreError(_message(exc)) from exc


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", "") or exc)
