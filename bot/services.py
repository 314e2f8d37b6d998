"""The long-lived parts of a running larkdesk, built once from settings and shared by every handler."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.queue import EventQueue
from bot.registry import HandlerRegistry
from config.redis import create_redis
from config.settings import Settings
from desk.service import Desk
from feishu import FeishuClient
from rag.milvus import MilvusConnection, milvus_uri
from rag.service import Knowledge
from sync.live import DocSync


@dataclass
class Services:
    settings: Settings
    redis: aioredis.Redis
    feishu: FeishuClient
    queue: EventQueue
    registry: HandlerRegistry
    milvus: MilvusConnection
    knowledge: Knowledge
    docsync: DocSync
    desk: Desk

    @classmethod
    def build(cls, settings: Settings, *, redis: aioredis.Redis | None = None) -> Services:
        redis = redis if redis is not None else create_redis(settings)
        milvus = MilvusConnection(milvus_uri(settings))
        knowledge = Knowledge.build(settings, milvus, redis)
        feishu = FeishuClient(
            settings.feishu_app_id,
            settings.feishu_app_secret,
            settings.feishu_domain,
            timeout_s=settings.feishu_request_timeout_s,
            chat_qps=settings.feishu_chat_qps,
            app_qps=settings.feishu_app_qps,
            max_retries=settings.feishu_max_retries,
            # Feishu counts per app: with a Redis server every process of the app shares one window.
            redis=redis if settings.redis_url else None,
        )
        return cls(
            settings=settings,
            redis=redis,
            feishu=feishu,
            queue=EventQueue(
                redis,
                stream=settings.queue_stream,
                group=settings.queue_group,
                dead_stream=settings.queue_dead_letter_stream,
                dedup_ttl_s=settings.dedup_ttl_s,
                max_attempts=settings.queue_max_attempts,
                lane_ttl_ms=settings.lane_ttl_ms,
            ),
            registry=HandlerRegistry(),
            milvus=milvus,
            knowledge=knowledge,
            docsync=DocSync(feishu, knowledge.kb, settings.data_dir, debounce_s=settings.sync_debounce_s, redis=redis),
            desk=Desk.build(settings, redis, knowledge),
        )


async def build_knowledge(settings: Settings) -> Knowledge:
    """The knowledge side alone (for CLI commands): the same store and pipeline the server uses."""
    knowledge = Knowledge.build(settings, MilvusConnection(milvus_uri(settings)), create_redis(settings))
    await knowledge.store.ensure()
    return knowledge
