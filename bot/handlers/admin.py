"""Admin slash-commands sent to the bot: knowledge, cache, reviews, and the desk's health at a glance.

Only allow-listed admins (FEISHU_ADMIN_OPEN_IDS) may run them; anyone else gets a polite refusal. Answers
are plain text except /review, which is a card with approve / reject buttons.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from bot.agent_group import AgentDirectory
from bot.handlers.messages import Reply
from config.messages import t
from desk.cards import review_card
from desk.reviews import ReviewNotFound
from feishu.message_text import IncomingMessage
from sync.live import parse_doc_link, source_id_for

log = structlog.get_logger("bot.admin")

HELP = """管理员命令 / Admin commands:
/help — 本帮助 / this help
/status — 知识库、队列、待处理会话、客服 / knowledge, queue, pending sessions, agents
/sync <文档或知识库链接> — 订阅并同步 / subscribe and sync a doc or wiki
/unsync <文档链接或 token> — 取消订阅并删除其知识 / unsubscribe and remove its knowledge
/docs — 知识来源列表 / knowledge sources
/reindex — 重新同步所有来源并清空缓存 / re-sync every source, clear the cache
/cache clear — 清空热点问题缓存 / clear the hot-question cache
/review [approve|reject <id>] — 审核客服提交的解决方案 / review agents' solutions
/rollback <source> <version> — 回滚知识来源 / roll a source back
/ask <问题> — 查看检索结果和分数 / show retrieved chunks with scores
/stats — 回答、转人工、满意度 / answers, escalations, CSAT
/forget <客户 open_id 或用户 id> — 删除该客户的会话、记录和学到的说法 / erase a customer's data
/learned [pending|active|removed] — 从点击、反馈和客服选择中学到的说法 / learned phrasings
/learned approve|remove <id> — 启用或移除一条学到的说法 / use or drop a learned phrasing"""

Command = Callable[[list[str], IncomingMessage], Awaitable[Reply]]


class AdminCommands:
    def __init__(self, services: Any, directory: AgentDirectory) -> None:
        self.services = services
        self.directory = directory
        self.admins = services.settings.admin_open_ids
        self.language = services.settings.bot_language
        self.commands: dict[str, Command] = {
            "help": self.help, "status": self.status, "sync": self.sync, "unsync": self.unsync, "docs": self.docs,
            "reindex": self.reindex, "cache": self.cache, "review": self.review, "rollback": self.rollback,
            "ask": self.ask, "stats": self.stats, "forget": self.forget, "learned": self.learned,
        }

    def parse(self, text: str) -> tuple[str, list[str]] | None:
        """("name", args) when the text is one of our commands; anything else is a customer's message."""
        if not text.startswith("/"):
            return None
        try:
            parts = shlex.split(text[1:])
        except ValueError:
            parts = text[1:].split()
        if not parts or parts[0].lower() not in self.commands:
            return None
        return parts[0].lower(), parts[1:]

    async def run(self, name: str, args: list[str], message: IncomingMessage) -> Reply:
        if message.sender_open_id not in self.admins:
            log.warning("admin.refused", command=name, sender=message.sender_open_id)
            return Reply(text=t("admin_only", self.language))
        log.info("admin.command", command=name, args=len(args))
        try:
            return await self.commands[name](args, message)
        except (ValueError, LookupError) as exc:
            return Reply(text=f"⚠️ {exc}")
        except Exception as exc:  # an admin wants the failure now, not five silent retries of the command
            log.exception("admin.command_failed", command=name)
            return Reply(text=f"⚠️ /{name} 失败 / failed: {type(exc).__name__}: {exc}")

    # -- commands -----------------------------------------------------------------------------------------

    async def help(self, args: list[str], message: IncomingMessage) -> Reply:
        return Reply(text=HELP)

    async def status(self, args: list[str], message: IncomingMessage) -> Reply:
        knowledge, desk = self.services.knowledge, self.services.desk
        chunks = await knowledge.store.count()
        sources = await knowledge.store.sources()
        agents = await self.directory.members()
        lines = [f"知识库 knowledge: {chunks} chunks / {len(sources)} sources",
                 f"队列 queue depth: {await self.services.queue.depth()}",
                 f"待处理会话 pending sessions: {await desk.sessions.pending_count()}",
                 f"客服 agents: {len(agents)}（{', '.join(n or i for i, n in list(agents.items())[:10])}）",
                 f"工作时间 working hours: {'在线 open' if desk.hours.is_open() else '离线 closed'}",
                 f"LLM: {self.services.settings.llm_model or '未配置 none (extractive answers)'}",
                 f"embedder: {self.services.settings.embedder}"]
        return Reply(text="\n".join(lines))

    async def sync(self, args: list[str], message: IncomingMessage) -> Reply:
        if not args:
            raise ValueError("用法 usage: /sync <文档或知识库链接>")
        reports = await self.services.docsync.subscribe(args[0])
        added = sum(r.added for r in reports)
        return Reply(text=f"已订阅 {len(reports)} 篇文档，新增 {added} 个知识块 / subscribed {len(reports)} docs")

    async def unsync(self, args: list[str], message: IncomingMessage) -> Reply:
        if not args:
            raise ValueError("用法 usage: /unsync <文档链接或 token>")
        _, token = parse_doc_link(args[0])
        removed = await self.services.docsync.unsubscribe(token)
        return Reply(text=f"已取消订阅 {token}，删除 {removed} 个知识块 / unsubscribed, {removed} chunks removed")

    async def docs(self, args: list[str], message: IncomingMessage) -> Reply:
        sources = await self.services.knowledge.store.sources()
        if not sources:
            return Reply(text="知识库为空 / The knowledge base is empty.")
        lines = [f"- {s['source_id']} · {s.get('title') or '-'} · {s['knowledge_type']} · {s['chunks']} chunks"
                 for s in sources[:50]]
        return Reply(text=f"知识来源 {len(sources)} / sources:\n" + "\n".join(lines))

    async def reindex(self, args: list[str], message: IncomingMessage) -> Reply:
        """Feishu docs re-read from Feishu; files restored from their latest registered version."""
        kb = self.services.knowledge.kb
        synced = len(await self.services.docsync.reconcile())
        subscribed = {source_id_for(s.document_id) for s in self.services.docsync.subs.all()}
        restored = 0
        for doc in await kb.documents():
            source_id = doc.get("source_id", "")
            if source_id in subscribed or not doc.get("current_version"):
                continue
            await kb.rollback(source_id, int(doc["current_version"]))
            restored += 1
        cleared = await self.services.knowledge.cache.clear()
        return Reply(text=f"重建完成 / reindexed: {synced} Feishu docs re-synced, {restored} files restored, "
                          f"{cleared} cached answers cleared")

    async def cache(self, args: list[str], message: IncomingMessage) -> Reply:
        if args[:1] != ["clear"]:
            raise ValueError("用法 usage: /cache clear")
        cleared = await self.services.knowledge.cache.clear()
        return Reply(text=f"已清空缓存 {cleared} 条 / {cleared} cached answers cleared")

    async def review(self, args: list[str], message: IncomingMessage) -> Reply:
        reviews = self.services.desk.reviews
        if len(args) >= 2 and args[0] in ("approve", "reject"):
            try:
                if args[0] == "approve":
                    item = await reviews.approve(args[1], message.sender_open_id)
                    return Reply(text=f"已通过 approved: {item.review_id} → {item.source_id}")
                item = await reviews.reject(args[1], message.sender_open_id)
                return Reply(text=f"已驳回 rejected: {item.review_id}")
            except ReviewNotFound as exc:
                raise ValueError(str(exc)) from exc
        return Reply(card=review_card(await reviews.pending(limit=10)))

    async def rollback(self, args: list[str], message: IncomingMessage) -> Reply:
        if len(args) != 2 or not args[1].isdigit():
            raise ValueError("用法 usage: /rollback <source> <version>")
        result = await self.services.knowledge.kb.rollback(args[0], int(args[1]))
        await self.services.knowledge.cache.clear()
        return Reply(text=f"已回滚 {result.source_id} 到版本 {args[1]}（新版本 {result.version}），"
                          f"重新嵌入 {result.added} 块 / re-embedded {result.added} chunks")

    async def ask(self, args: list[str], message: IncomingMessage) -> Reply:
        question = " ".join(args).strip()
        if not question:
            raise ValueError("用法 usage: /ask <问题>")
        result = await self.services.knowledge.retriever.search(question, top_k=10)
        verdict = await self.services.knowledge.answerer.judge(question, result.candidates)
        evidence = ", ".join(f"{k} {v:.3f}" for k, v in verdict.features.items())
        lines = [f"决策 decision: {verdict.decision} (p {verdict.probability:.3f}, {verdict.family}, {verdict.reason})",
                 f"证据 evidence: {evidence}"]
        for i, cand in enumerate(result.candidates, 1):
            hit = cand.hit
            text = (hit.question or hit.text).replace("\n", " ")[:80]
            lines.append(f"{i}. score {cand.score:.3f} · dense {cand.dense:.3f} · bm25 {cand.bm25:.2f} · "
                         f"{hit.knowledge_type} · {hit.title or hit.source_id}\n   {text}")
        return Reply(text="\n".join(lines))

    async def forget(self, args: list[str], message: IncomingMessage) -> Reply:
        if len(args) != 1:
            raise ValueError("用法 usage: /forget <客户 open_id 或用户 id>")
        from desk.privacy import forget_customer

        desk = self.services.desk
        report = await forget_customer(args[0], desk.sessions, desk.traces, erasers=desk.erasers)
        erased = ", ".join(f"{k} {v}" for k, v in sorted(report.erased.items()))
        text = f"已删除 / erased {args[0]}: {erased}"
        if report.failed:
            text += "\n⚠️ 未能删除 / NOT erased: " + ", ".join(f"{k} ({v})" for k, v in sorted(report.failed.items()))
        return Reply(text=text)

    async def learned(self, args: list[str], message: IncomingMessage) -> Reply:
        learning = self.services.knowledge.learning
        if args and args[0] in ("approve", "remove"):
            if len(args) != 2:
                raise ValueError("用法 usage: /learned approve|remove <id>")
            change = learning.approve if args[0] == "approve" else learning.remove
            phrasing = await change(args[1], by=message.sender_open_id)
            return Reply(text=f"{phrasing.id}: {phrasing.status} · “{phrasing.wording}” → {phrasing.entry.label}")
        status = args[0] if args else "pending"
        if status not in ("pending", "active", "removed"):
            raise ValueError("用法 usage: /learned [pending|active|removed]")
        phrasings = await learning.list(status, limit=20)  # type: ignore[arg-type]
        if not phrasings:
            return Reply(text=f"没有 {status} 状态的说法 / no {status} learned phrasings")
        lines = [f"学到的说法 learned phrasings ({status}, newest first):"]
        lines += [f"{p.id} · score {p.score} · “{p.wording}” → {p.entry.label[:40]}" for p in phrasings]
        if status == "pending":
            lines.append("/learned approve <id> 启用 · /learned remove <id> 移除")
        return Reply(text="\n".join(lines))

    async def stats(self, args: list[str], message: IncomingMessage) -> Reply:
        s = await self.services.desk.stats.snapshot()
        answers = ", ".join(f"{k} {v}" for k, v in sorted(s["answers"].items())) or "-"
        csat = f"{s['csat_average']} ({s['csat_count']})" if s["csat_count"] else "-"
        return Reply(text=f"回答 answers: {s['answers_total']} ({answers})\n转人工 escalations: {s['escalations']}\n"
                          f"认领 claims: {s['claims']} · 解决 resolutions: {s['resolutions']}\n"
                          f"满意度 CSAT average: {csat}")
