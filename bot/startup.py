"""Start-up and background jobs owned by the app: the sample knowledge base and doc reconciling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.leases import once_per_period
from bot.services import Services
from config.redis import redis_lock
from desk.sla import SlaWatcher

log = structlog.get_logger("bot.startup")

SAMPLE_KB_DIR = Path(__file__).resolve().parent.parent / "config" / "sample_kb"


async def load_sample_kb(services: Services) -> int:
    """Ingest config/sample_kb into an empty knowledge base, so a fresh `make run` can answer questions."""
    store = services.knowledge.store
    if await store.count() > 0 or not SAMPLE_KB_DIR.is_dir():
        return 0
    loaded = 0
    for path in sorted(SAMPLE_KB_DIR.iterdir()):
        if path.name.startswith(".") or path.stem.lower() == "readme":
            continue
        try:
            result = await services.knowledge.kb.ingest_file(path)
            loaded += result.chunk_count
        except Exception as exc:
            log.error("startup.sample_kb_failed", file=path.name, error=str(exc))
    log.info("startup.sample_kb_loaded", chunks=loaded)
    return loaded


async def subscribe_configured_docs(services: Services) -> int:
    """Subscribe the docs listed in FEISHU_SYNC_DOCS (already subscribed ones are simply re-synced)."""
    links = [x.strip() for x in services.settings.feishu_sync_docs.split(",") if x.strip()]
    synced = 0
    for link in links:
        try:
            reports = await services.docsync.subscribe(link)
            synced += len(reports)
        except Exception as exc:
            log.error("startup.doc_subscribe_failed", link=link, error=str(exc))
    if links:
        log.info("startup.docs_subscribed", docs=synced)
    return synced


async def warm_knowledge(services: Services, on_sample_loaded: Callable[[], object] | None = None) -> None:
    """In order: the sample knowledge base (only into an empty store), then the configured Feishu docs.
    One process at a time (a Redis lock): processes that start together do not ingest the same files twice.
    `on_sample_loaded` runs once the sample knowledge is in (or was not wanted): readiness waits for it."""
    async with redis_lock(services.redis, "larkdesk:lock:warm_knowledge", ttl_s=900, wait_s=900, poll_s=0.5):
        if services.settings.sample_kb:
            await load_sample_kb(services)
        if on_sample_loaded is not None:
            on_sample_loaded()
        if services.settings.feishu_sync_docs:
            await subscribe_configured_docs(services)
        # Docs deleted while the bot was down (a previous run's demo doc included) leave the knowledge now.
        await services.docsync.reconcile()


def reconcile_scheduler(services: Services) -> AsyncIOScheduler:
    """Re-checks every subscribed Feishu doc on an interval (catches missed edit events and deletions), and
    re-alerts pending desk sessions past their SLA. Every process schedules both; a Redis lease per period
    makes each run once per period across all of them."""
    settings, redis = services.settings, services.redis
    scheduler = AsyncIOScheduler()
    reconcile_s, sla_s = settings.sync_reconcile_interval_s, settings.desk_sla_check_interval_s
    scheduler.add_job(once_per_period(redis, "docsync.reconcile", reconcile_s, services.docsync.reconcile),
                      "interval", seconds=reconcile_s, id="docsync.reconcile", max_instances=1, coalesce=True)
    scheduler.add_job(once_per_period(redis, "desk.sla", sla_s, sla_watcher(services).run_once),
                      "interval", seconds=sla_s, id="desk.sla", max_instances=1, coalesce=True)
    return scheduler


def sla_watcher(services: Services) -> SlaWatcher:
    desk = services.desk
    return SlaWatcher(desk.sessions, desk.notifiers, sla_s=services.settings.desk_sla_minutes * 60, hours=desk.hours)
