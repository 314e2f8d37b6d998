"""The one aiohttp app factory: tests, `larkdesk serve` and benchmarks all build the app here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
import structlog
from aiohttp import web

from bot.ingress import Ingress
from bot.intake import EventIntake
from bot.longconn import LongConnection
from bot.rest import mount_rest_api
from bot.services import Services
from bot.startup import reconcile_scheduler, warm_knowledge
from bot.supervision import Supervisor
from bot.wiring import register_default_handlers
from bot.workers import WorkerPool
from config.settings import Settings
from feishu.verify import CallbackVerifier
from observability.health import ReadinessCheck, add_health_routes
from observability.langfuse import LangfuseTracer, set_tracer
from observability.masking import configure_sensitive_words

log = structlog.get_logger("bot.app")

SERVICES = web.AppKey("services", Services)
WORKERS = web.AppKey("workers", WorkerPool)
SUPERVISOR = web.AppKey("supervisor", Supervisor)


def create_app(
    settings: Settings,
    *,
    redis: aioredis.Redis | None = None,
    services: Services | None = None,
    run_workers: bool = True,
    owns_knowledge: bool = True,
    workers_check: ReadinessCheck | None = None,
) -> web.Application:
    """`owns_knowledge=False`: an acknowledge-only front whose worker processes own the vector store (a Milvus
    Lite file admits one process), so it neither opens the store nor loads knowledge.

    `/readyz` is not ready while no worker can answer: the in-process pool's loops, else `workers_check`
    (the worker processes `serve` supervises), else a worker heartbeat in Redis (workers on other hosts)."""
    configure_sensitive_words(settings.sensitive_words.split(","))
    services = services or Services.build(settings, redis=redis)
    if not services.registry.event_types:
        register_default_handlers(services)
    # Feishu callbacks have their own, smaller limit (EVENT_MAX_BODY_BYTES, checked by the ingress).
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[SERVICES] = services

    intake = EventIntake(services.queue, services.registry, callback_timeout_s=settings.callback_timeout_s)
    ingress = Ingress(
        CallbackVerifier(settings.feishu_verification_token, settings.feishu_encrypt_key, settings.event_max_skew_s,
                         max_body_bytes=settings.event_max_body_bytes, max_json_depth=settings.json_max_depth),
        intake,
        max_body_bytes=settings.event_max_body_bytes,
    )
    app.router.add_post("/feishu/events", ingress.handle)
    app.router.add_post("/feishu/cards", ingress.handle)
    checks: dict[str, ReadinessCheck] = {"redis": services.redis.ping}
    if owns_knowledge:
        checks["vector_store"] = services.milvus.ping
    mount_rest_api(app, services)  # /api/v1 (X-API-Key), /openapi.json, /docs

    workers = WorkerPool(
        services.queue,
        services.registry,
        concurrency=settings.worker_concurrency,
        reclaim_idle_ms=settings.queue_reclaim_idle_ms,
        retry_backoff_ms=settings.queue_retry_backoff_ms,
    )
    app[WORKERS] = workers

    async def pool_alive() -> None:
        if not workers.alive:
            raise RuntimeError("the worker pool is not running")

    async def remote_workers_alive() -> None:
        within_ms = int(workers.heartbeat_interval_s * 3000) + 2000
        if await services.queue.live_consumers(within_ms) == 0:
            raise RuntimeError("no worker has reported in")

    checks["workers"] = pool_alive if run_workers else (workers_check or remote_workers_alive)
    # A fresh `make run` ingests the sample shop for a few seconds: questions asked meanwhile would all find
    # nothing (and count as failed turns), so the process is not ready until it is in.
    sample_loaded = asyncio.Event()
    if owns_knowledge and settings.sample_kb:
        async def sample_kb_loaded() -> None:
            if not sample_loaded.is_set():
                raise RuntimeError("loading the sample knowledge base")

        checks["knowledge"] = sample_kb_loaded
    add_health_routes(app, checks)
    supervisor = Supervisor()
    app[SUPERVISOR] = supervisor

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        background: list[asyncio.Task] = []
        # Every LLM call is reported to Langfuse in the background when enabled; a no-op otherwise.
        tracer = LangfuseTracer.from_settings(settings)
        set_tracer(tracer)
        await tracer.start()
        scheduler = reconcile_scheduler(services)
        if owns_knowledge:
            try:
                await services.knowledge.store.ensure()  # open the vector store now, not on the first question
                warm = asyncio.create_task(warm_knowledge(services, sample_loaded.set), name="warm_knowledge")
                warm.add_done_callback(lambda _task: sample_loaded.set())  # a failed load is logged, not a wait
                background.append(warm)
            except Exception as exc:  # /readyz reports it; the bot still acks and queues events
                sample_loaded.set()
                log.error("app.vector_store_unavailable", uri=services.milvus.uri, error=str(exc))
            scheduler.start()
            supervisor.watch("scheduler", lambda: scheduler.running, _restart_scheduler(scheduler))
        longconn = LongConnection(settings, intake) if settings.feishu_event_mode == "websocket" else None
        if longconn is not None:
            await longconn.start()
            supervisor.watch("longconn", lambda: longconn.alive, longconn.restart)
        if run_workers:
            await workers.start()
            supervisor.watch("worker_pool", lambda: workers.alive, _restart_pool(workers))
        await supervisor.start()
        yield
        await supervisor.stop()
        if scheduler.running:
            scheduler.shutdown(wait=False)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if longconn is not None:
            await longconn.stop()
        if run_workers:
            await workers.stop()
        await tracer.close()
        set_tracer(None)
        await services.desk.close()
        await services.feishu.close()
        await services.milvus.close()
        await services.redis.aclose()

    app.cleanup_ctx.append(lifecycle)
    return app


def _restart_scheduler(scheduler):
    async def restart() -> None:
        scheduler.start()

    return restart


def _restart_pool(workers: WorkerPool):
    async def restart() -> None:
        await workers.stop(drain_timeout_s=5)
        await workers.start()

    return restart
