"""Live Feishu docs: subscribe, then re-embed only the blocks an editor changed, seconds after the save.

`drive.file.edit_v1` carries no content and no revision, so every sync fetches the document: its
`revision_id` (older than what is stored → ignored) and its blocks → one chunk per block → the knowledge
diff embeds new or changed blocks and deletes removed ones. Bursts of edits are debounced per document:
each edit waits a moment and gives way if a newer edit of the same document arrived meanwhile. A
scheduled reconcile catches missed events and deletions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import redis.asyncio as aioredis
import structlog

from config.redis import redis_lock
from feishu import FeishuAPIError, FeishuClient
from feishu.events import FeishuEvent
from sync.docx_blocks import chunks_from_blocks
from sync.knowledge import KnowledgeBase, SyncDiff

log = structlog.get_logger("sync.live")

_DOC_NOT_FOUND = {1770002, 1061003, 1061007, 131005}
_LINK = re.compile(r"/(docx|wiki|docs)/([A-Za-z0-9]+)")
_SUBS_KEY = "larkdesk:sync:subscriptions"
_LATEST_EDIT_KEY = "larkdesk:sync:latest_edit:{}"
_DOC_LOCK_KEY = "larkdesk:sync:lock:{}"
# Keeps the newest edit time of a doc whichever process saw it (debounce across processes).
_MAX_LUA = ("local c = tonumber(redis.call('GET', KEYS[1]) or '0') "
            "if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1], 'EX', 3600) return ARGV[1] end "
            "return tostring(c)")


@dataclass
class Subscription:
    document_id: str
    title: str = ""
    revision_id: int = 0
    knowledge_type: str = "doc"
    wiki_token: str = ""
    status: str = "active"  # active | trashed | deleted
    synced_at: float = 0.0


@dataclass(frozen=True)
class DocSyncReport:
    document_id: str
    revision_id: int
    skipped: str = ""  # "" | "stale_revision" | "unchanged_revision" | "superseded"
    added: int = 0
    removed: int = 0
    unchanged: int = 0


def source_id_for(document_id: str) -> str:
    return f"feishu:{document_id}"


def parse_doc_link(link: str) -> tuple[str, str]:
    """A docx/wiki URL or a bare token → ("docx" | "wiki", token)."""
    match = _LINK.search(link)
    if match:
        kind = "wiki" if match.group(1) == "wiki" else "docx"
        return kind, match.group(2)
    token = link.strip()
    if not re.fullmatch(r"[A-Za-z0-9]+", token):
        raise ValueError(f"not a Feishu doc or wiki link: {link!r}")
    return ("wiki" if token.startswith("wik") else "docx"), token


class SubscriptionStore:
    """Subscribed docs. With Redis (shared by every process) the hash `larkdesk:sync:subscriptions` is the truth;
    DATA_DIR/sync/subscriptions.json keeps a copy, so the embedded set-up (in-process Redis) survives restarts.
    `get` / `all` read what `load` last fetched: DocSync loads before every decision."""

    def __init__(self, data_dir: Path | str, redis: aioredis.Redis | None = None) -> None:
        self.path = Path(data_dir) / "sync" / "subscriptions.json"
        self.redis = redis
        self._seeded = False
        self._subs: dict[str, Subscription] = {}
        if self.path.exists():
            for row in json.loads(self.path.read_text("utf-8")):
                self._subs[row["document_id"]] = Subscription(**row)

    async def load(self) -> None:
        if self.redis is None:
            return
        rows = await self.redis.hgetall(_SUBS_KEY)
        if not rows and not self._seeded and self._subs:
            # The first start on a fresh Redis: what this DATA_DIR knew becomes the shared truth.
            await self.redis.hset(_SUBS_KEY, mapping={d: json.dumps(asdict(s), ensure_ascii=False)
                                                      for d, s in self._subs.items()})
        else:
            self._subs = {doc: Subscription(**json.loads(raw)) for doc, raw in rows.items()}
        self._seeded = True

    def get(self, document_id: str) -> Subscription | None:
        return self._subs.get(document_id)

    def all(self) -> list[Subscription]:
        return list(self._subs.values())

    async def put(self, sub: Subscription) -> None:
        self._subs[sub.document_id] = sub
        self._seeded = True
        if self.redis is not None:
            await self.redis.hset(_SUBS_KEY, sub.document_id, json.dumps(asdict(sub), ensure_ascii=False))
        self._save()

    async def remove(self, document_id: str) -> None:
        self._subs.pop(document_id, None)
        self._seeded = True
        if self.redis is not None:
            await self.redis.hdel(_SUBS_KEY, document_id)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps([asdict(s) for s in self._subs.values()], ensure_ascii=False, indent=1), "utf-8")
        tmp.replace(self.path)


class DocSync:
    """With `redis`, several processes share the subscriptions, the debounce and a per-doc lock, so an edit
    is synced once whichever worker receives it."""

    def __init__(self, feishu: FeishuClient, kb: KnowledgeBase, data_dir: Path | str, *,
                 debounce_s: float = 0.5, redis: aioredis.Redis | None = None) -> None:
        self.feishu = feishu
        self.kb = kb
        self.redis = redis
        self.subs = SubscriptionStore(data_dir, redis)
        self.debounce_s = debounce_s
        self._latest_edit: dict[str, float] = {}
        self._doc_locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def _doc_lock(self, document_id: str):
        async with self._doc_locks.setdefault(document_id, asyncio.Lock()):
            if self.redis is None:
                yield
                return
            async with redis_lock(self.redis, _DOC_LOCK_KEY.format(document_id), ttl_s=120, wait_s=120):
                yield

    async def _note_edit(self, document_id: str, received: float) -> float:
        """The newest edit time of the doc seen by any process (this one's included)."""
        self._latest_edit[document_id] = max(self._latest_edit.get(document_id, 0.0), received)
        if self.redis is None:
            return self._latest_edit[document_id]
        newest = await self.redis.eval(_MAX_LUA, 1, _LATEST_EDIT_KEY.format(document_id), int(received * 1000))
        return max(self._latest_edit[document_id], int(newest) / 1000)

    async def _latest(self, document_id: str) -> float:
        local = self._latest_edit.get(document_id, 0.0)
        if self.redis is None:
            return local
        shared = await self.redis.get(_LATEST_EDIT_KEY.format(document_id))
        return max(local, int(shared or 0) / 1000)

    # -- subscribe / unsubscribe -------------------------------------------------------------------

    async def subscribe(self, link: str, *, knowledge_type: str = "doc") -> list[DocSyncReport]:
        """Subscribe a docx, a wiki node (its docx), or a whole wiki space node tree; sync each now."""
        kind, token = parse_doc_link(link)
        targets: list[tuple[str, str]] = []
        if kind == "wiki":
            node = await self.feishu.get_wiki_node(token)
            targets = await self._wiki_docs(node)
        else:
            targets = [(token, "")]
        reports = []
        for document_id, wiki_token in targets:
            await self.feishu.subscribe_file(document_id, "docx")
            await self.subs.load()
            existing = self.subs.get(document_id)
            await self.subs.put(Subscription(document_id, existing.title if existing else "", 0, knowledge_type,
                                       wiki_token))
            reports.append(await self.sync_document(document_id, force=True))
        return reports

    async def _wiki_docs(self, node: dict) -> list[tuple[str, str]]:
        """The docx behind a wiki node and behind every node below it (crawl)."""
        found: list[tuple[str, str]] = []
        if node.get("obj_type") == "docx" and node.get("obj_token"):
            found.append((node["obj_token"], node.get("node_token", "")))
        if node.get("has_child"):
            for child in await self.feishu.list_wiki_nodes(node["space_id"], node["node_token"]):
                found.extend(await self._wiki_docs(child))
        return found

    async def unsubscribe(self, document_id: str) -> int:
        try:
            await self.feishu.unsubscribe_file(document_id, "docx")
        except FeishuAPIError as exc:
            log.warning("sync.unsubscribe_failed", document_id=document_id, code=exc.code)
        await self.subs.remove(document_id)
        return await self.kb.delete_source(source_id_for(document_id))

    # -- syncing -----------------------------------------------------------------------------------

    async def sync_document(self, document_id: str, *, force: bool = False) -> DocSyncReport:
        async with self._doc_lock(document_id):
            await self.subs.load()
            sub = self.subs.get(document_id) or Subscription(document_id)
            doc = await self.feishu.get_document(document_id)
            revision = int(doc.get("revision_id") or 0)
            if revision < sub.revision_id:
                log.info("sync.stale_revision", document_id=document_id, revision=revision, stored=sub.revision_id)
                return DocSyncReport(document_id, revision, skipped="stale_revision")
            if revision == sub.revision_id and not force:
                return DocSyncReport(document_id, revision, skipped="unchanged_revision")
            blocks = await self.feishu.list_blocks(document_id)
            title = str(doc.get("title") or sub.title)
            chunks = chunks_from_blocks(source_id_for(document_id), title, blocks, knowledge_type=sub.knowledge_type)
            diff: SyncDiff = await self.kb.sync_chunks(source_id_for(document_id), chunks, origin="feishu_doc")
            sub.revision_id, sub.title, sub.status, sub.synced_at = revision, title, "active", time.time()
            await self.subs.put(sub)
            log.info("sync.document_synced", document_id=document_id, revision=revision, added=diff.added,
                     removed=diff.removed)
            return DocSyncReport(document_id, revision, "", diff.added, diff.removed, diff.unchanged)

    async def handle_edit(self, event: FeishuEvent) -> DocSyncReport | None:
        document_id = str(event.event.get("file_token") or "")
        await self.subs.load()
        if not document_id or self.subs.get(document_id) is None:
            return None
        received = (event.received_at_ms / 1000) if event.received_at_ms else time.time()
        await self._note_edit(document_id, received)
        await asyncio.sleep(max(0.0, received + self.debounce_s - time.time()))
        if await self._latest(document_id) > received:
            return DocSyncReport(document_id, 0, skipped="superseded")  # a newer edit will sync
        return await self.sync_document(document_id)

    async def handle_title_updated(self, event: FeishuEvent) -> None:
        document_id = str(event.event.get("file_token") or "")
        await self.subs.load()
        if self.subs.get(document_id) is not None:
            await self.sync_document(document_id, force=True)

    async def handle_removed(self, event: FeishuEvent) -> None:
        """Trashed or deleted: the doc's knowledge goes; the subscription stays, marked, for the record."""
        document_id = str(event.event.get("file_token") or "")
        await self.subs.load()
        sub = self.subs.get(document_id)
        if sub is None:
            return
        await self.kb.delete_source(source_id_for(document_id))
        sub.status = "trashed" if event.event_type.endswith("trashed_v1") else "deleted"
        await self.subs.put(sub)
        log.info("sync.document_removed", document_id=document_id, status=sub.status)

    async def reconcile(self) -> list[DocSyncReport]:
        """Re-check every active subscription (missed events); drop knowledge of docs that are gone."""
        reports = []
        await self.subs.load()
        for sub in self.subs.all():
            if sub.status != "active":
                continue
            try:
                reports.append(await self.sync_document(sub.document_id))
            except FeishuAPIError as exc:
                if exc.code in _DOC_NOT_FOUND:  # gone while nobody listened: its knowledge and subscription go
                    await self.kb.delete_source(source_id_for(sub.document_id))
                    await self.subs.remove(sub.document_id)
                    log.info("sync.reconcile_removed", document_id=sub.document_id)
                else:
                    log.warning("sync.reconcile_failed", document_id=sub.document_id, code=exc.code)
        return reports
