"""A Milvus server stopped and started again: the store is unavailable meanwhile, then works without a restart
of larkdesk (the collection it left loaded comes back released and is loaded again)."""

from __future__ import annotations

import asyncio

import pytest

from rag.milvus import MilvusConnection, StoreUnavailable
from tests.rag.store_conftest import MilvusLiteServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def milvus_server():
    server = MilvusLiteServer()
    server.start()
    yield server
    server.stop()


async def test_the_store_is_back_after_a_milvus_restart(milvus_server):
    connection = MilvusConnection(milvus_server.uri, timeout_s=5)
    await connection.run(lambda c: c.create_collection("restart_probe", dimension=4))
    await connection.run(lambda c: c.insert("restart_probe", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}]))
    await connection.run(lambda c: c.flush("restart_probe"))
    milvus_server.halt()
    with pytest.raises(StoreUnavailable):
        await connection.run(lambda c: c.query("restart_probe", filter="id >= 0", output_fields=["id"]))
    milvus_server.start()
    rows, deadline = None, asyncio.get_running_loop().time() + 30
    while rows is None:  # the same connection, no restart of anything on larkdesk's side
        try:
            rows = await connection.run(lambda c: c.query("restart_probe", filter="id >= 0", output_fields=["id"]))
        except StoreUnavailable:
            assert asyncio.get_running_loop().time() < deadline, "the store never came back"
            await asyncio.sleep(0.5)
    assert [r["id"] for r in rows] == [1]
    await connection.close()
