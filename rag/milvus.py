"""Connects to the vector store: a Milvus Lite file (embedded default) or a Milvus server by URI."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pymilvus import MilvusClient

from config.settings import Settings


def milvus_uri(settings: Settings) -> str:
    """`MILVUS_URI` when set (http://host:19530 or a .db path), else `DATA_DIR/milvus.db`."""
    if settings.milvus_uri:
        return settings.milvus_uri
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return str(Path(settings.data_dir) / "milvus.db")


class MilvusConnection:
    """Opens the client lazily in a thread (Milvus Lite starts a local engine; calls block)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._client: MilvusClient | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> MilvusClient:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await asyncio.to_thread(MilvusClient, self.uri)
        return self._client

    async def ping(self) -> None:
        client = await self.client()
        await asyncio.to_thread(client.list_collections)

    async def close(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
            self._client = None
