"""Builds the knowledge side of larkdesk from settings: store, embedder, knowledge base, answers, doc sync."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog

from config.settings import Settings
from rag.answer import Answerer, AnswerPolicy
from rag.cache import AnswerCache, KnowledgeVersion
from rag.embedders import Embedder
from rag.milvus import MilvusConnection
from rag.retrieval import Retriever
from rag.store import KnowledgeStore
from sync.knowledge import KnowledgeBase
from sync.limits import IngestLimits
from sync.versions import VersionRegistry

log = structlog.get_logger("rag.service")


def answer_policy(settings: Settings) -> AnswerPolicy:
    defaults = AnswerPolicy()
    return AnswerPolicy(answer_similarity=settings.rag_answer_similarity or defaults.answer_similarity,
                        suggest_similarity=settings.rag_suggest_similarity or defaults.suggest_similarity)


def embedder_from(settings: Settings) -> Embedder:
    from rag.embedders.factory import create_embedder

    return create_embedder(settings.embedder, model_path=settings.embedder_model_path,
                           base_url=settings.embedding_base_url or settings.llm_base_url,
                           api_key=settings.embedding_api_key or settings.llm_api_key,
                           model=settings.embedding_model, dim=settings.embedding_dim or None)


def generator_from(settings: Settings):
    """The LLM answer generator, or None when no LLM is configured (extractive answers)."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    from rag.generate import AnswerGenerator
    from rag.llm import LLMClient

    def client(model: str) -> LLMClient:
        return LLMClient(base_url=settings.llm_base_url, api_key=settings.llm_api_key or "none", model=model,
                         timeout_s=settings.llm_timeout_s)

    strong = client(settings.llm_strong_model) if settings.llm_strong_model else None
    return AnswerGenerator(client(settings.llm_model), strong_llm=strong, language=settings.bot_language,
                           check_groundedness=settings.llm_groundedness_check)


@dataclass
class Knowledge:
    store: KnowledgeStore
    embedder: Embedder
    kb: KnowledgeBase
    retriever: Retriever
    answerer: Answerer
    cache: AnswerCache
    version: KnowledgeVersion

    @classmethod
    def build(cls, settings: Settings, milvus: MilvusConnection, redis: aioredis.Redis) -> Knowledge:
        embedder = embedder_from(settings)
        store = KnowledgeStore(milvus, dim=embedder.dim)
        version = KnowledgeVersion(redis)
        kb = KnowledgeBase(store, embedder, VersionRegistry(settings.data_dir), version,
                           limits=IngestLimits.from_settings(settings))
        reranker = None
        if settings.reranker_model_path:
            from rag.rerank import FlagRerankerWrapper

            reranker = FlagRerankerWrapper(settings.reranker_model_path)
        from rag.milvus import is_local

        retriever = Retriever(store, embedder, fusion=settings.rag_fusion, dense_weight=settings.rag_dense_weight,
                              reranker=reranker,
                              bm25_max_rows=settings.rag_lite_bm25_max_rows if is_local(milvus.uri) else None)
        cache = AnswerCache(redis, version, ttl_s=settings.cache_ttl_s, enabled=settings.cache_enabled)
        answerer = Answerer(retriever, policy=answer_policy(settings), cache=cache, generator=generator_from(settings),
                            language=settings.bot_language)
        return cls(store, embedder, kb, retriever, answerer, cache, version)

    async def close(self) -> None:
        await self.store.connection.close()
