"""A redis-server killed and started again (AOF): the same client is back within a second, nothing lost."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.queue import EventQueue
from config.redis import server_client
from tests.reliability.servers import RestartableRedis
from tests.unit.test_queue_workers import message_event

pytestmark = pytest.mark.integration


@pytest.fixture
def aof_redis():
    server = RestartableRedis()
    try:
        server.start()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


async def test_the_ingress_enqueues_again_within_a_second_of_redis_coming_back(aof_redis):
    client = server_client(aof_redis.url)
    queue = EventQueue(client)
    await queue.ensure_group()
    # A pool of warm connections, as a busy ingress has: each of them goes stale when Redis dies.
    await asyncio.gather(*(queue.enqueue(message_event(f"w{i}", f"om_w{i}", chat_id=f"oc_{i}"))
                           for i in range(20)))
    aof_redis.kill()
    with pytest.raises(RedisConnectionError):  # down is down: the ingress answers 503 and Feishu retries
        await queue.enqueue(message_event("down", "om_down"))
    aof_redis.start()
    back = time.monotonic()
    results = await asyncio.gather(*(queue.enqueue(message_event(f"a{i}", f"om_a{i}", chat_id=f"oc_{i}"))
                                     for i in range(20)))
    took = time.monotonic() - back
    assert all(results)
    assert took < 1.0
    assert await queue.depth() == 40  # what was queued before the crash survived (AOF)
    await client.aclose()
