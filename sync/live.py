"""Live Feishu docs: subscribe, then re-embed only the blocks an editor changed, seconds after the save.

`drive.file.edit_v1` carries no content and no revision, so every sync fetches the document: its
`revision_id` (older than what is stored → ignored) and its blocks → one chunk per block → the knowledge
diff embeds new or changed blocks and deletes removed ones. Bursts of edits are debounced per document:
each edit waits a moment and gives way if a newer edit of the same document arrived meanwhile. A
scheduled reconcile catches missed events and deletions.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from feishu import FeishuAPIError, FeishuClient
from feishu.events import FeishuEvent
from sync.docx_blocks import chunks_from_blocks
from sync.knowledge import KnowledgeBase, SyncDiff

log = structlog.get_logger("sync.live")

_DOC_NOT_FOUND = {1770002, 1061003, 1061007, 131005}
_LINK = re.compile(r"/(docx|wiki|docs)/([A-Za-z0-9]+)")


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
    """Subscribed docs, kept next to the knowledge they feed (DATA_DIR/sync/subscriptions.json)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / "sync" / "subscriptions.json"
        self._subs: dict[str, Subscription] = {}
        if self.path.exists():
            for row in json.loads(self.path.read_text("utf-8")):
                self._subs[row["document_id"]] = Subscription(**row)

    def get(self, document_id: str) -> Subscription | None:
        return self._subs.get(document_id)

    def all(self) -> list[Subscription]:
        return list(self._subs.values())

    def put(self, sub: Subscription) -> None:
        self._subs[sub.document_id] = sub
        self._save()

    def remove(self, document_id: str) -> None:
        self._subs.pop(document_id, None)
        self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(s) for s in self._subs.values()], ensure_ascii=False, indent=1), "utf-8")
        tmp.replace(self.path)


class DocSync:
    def __init__(self, feishu: FeishuClient, kb: KnowledgeBase, data_dir: Path | str, *,
                 debounce_s: float = 0.5) -> None:
        self.feishu = feishu
        self.kb = kb
        self.subs = SubscriptionStore(data_dir)
        self.debounce_s = debounce_s
        self._latest_edit: dict[str, float] = {}
        self._doc_locks: dict[str, asyncio.Lock] = {}

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
            existing = self.subs.get(document_id)
            self.subs.put(Subscription(document_id, existing.title if existing else "", 0, knowledge_type,
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
        self.subs.remove(document_id)
        return await self.kb.delete_source(source_id_for(document_id))

    # -- syncing -----------------------------------------------------------------------------------

    async def sync_document(self, document_id: str, *, force: bool = False) -> DocSyncReport:
        lock = self._doc_locks.setdefault(document_id, asyncio.Lock())
        async with lock:
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
            self.subs.put(sub)
            log.info("sync.document_synced", document_id=document_id, revision=revision, added=diff.added,
                     removed=diff.removed)
            return DocSyncReport(document_id, revision, "", diff.added, diff.removed, diff.unchanged)

    async def handle_edit(self, event: FeishuEvent) -> DocSyncReport | None:
        document_id = str(event.event.get("file_token") or "")
        if not document_id or self.subs.get(document_id) is None:
            return None
        received = (event.received_at_ms / 1000) if event.received_at_ms else time.time()
        self._latest_edit[document_id] = max(self._latest_edit.get(document_id, 0.0), received)
        await asyncio.sleep(max(0.0, received + self.debounce_s - time.time()))
        if self._latest_edit[document_id] > received:
            return DocSyncReport(document_id, 0, skipped="superseded")  # a newer edit will sync
        return await self.sync_document(document_id)

    async def handle_title_updated(self, event: FeishuEvent) -> None:
        document_id = str(event.event.get("file_token") or "")
        if self.subs.get(document_id) is not None:
            await self.sync_document(document_id, force=True)

    async def handle_removed(self, event: FeishuEvent) -> None:
        """Trashed or deleted: the doc's knowledge goes; the subscription stays, marked, for the record."""
        document_id = str(event.event.get("file_token") or "")
        sub = self.subs.get(document_id)
        if sub is None:
            return
        await self.kb.delete_source(source_id_for(document_id))
        sub.status = "trashed" if event.event_type.endswith("trashed_v1") else "deleted"
        self.subs.put(sub)
        log.info("sync.document_removed", document_id=document_id, status=sub.status)

    async def reconcile(self) -> list[DocSyncReport]:
        """Re-check every active subscription (missed events); drop knowledge of docs that are gone."""
        reports = []
        for sub in self.subs.all():
            if sub.status != "active":
                continue
            try:
                reports.append(await self.sync_document(sub.document_id))
            except FeishuAPIError as exc:
                if exc.code in _DOC_NOT_FOUND:
                    await self.kb.delete_source(source_id_for(sub.document_id))
                    sub.status = "deleted"
                    self.subs.put(sub)
                    log.info("sync.reconcile_removed", document_id=sub.document_id)
                else:
                    log.warning("sync.reconcile_failed", document_id=sub.document_id, code=exc.code)
        return reports
