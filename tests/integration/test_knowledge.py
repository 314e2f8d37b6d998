"""Knowledge end to end: ingest with diffs and versions, answers (extractive and LLM), live Feishu docs."""

from __future__ import annotations

import asyncio
import json
import time

import fakeredis
import pytest

from config.settings import EmulatorDefaults
from feishu import FeishuClient
from feishu.events import FeishuEvent
from rag.answer import Answerer
from rag.cache import AnswerCache, KnowledgeVersion
from rag.generate import AnswerGenerator
from rag.llm import LLMClient
from rag.milvus import MilvusConnection
from rag.policy import AnswerPolicy
from rag.retrieval import Retriever
from rag.store import KnowledgeStore
from sync.knowledge import KnowledgeBase, QualityRejected
from sync.live import DocSync, source_id_for
from sync.versions import VersionRegistry
from tests.openai_chat_server import OpenAIChatServer, slow

pytestmark = pytest.mark.integration

FAQ_ROWS = [
    {"id": "ret-1", "question": "怎么申请退货？", "answer": "在订单详情页点击申请退货，签收后7天内可无理由退货。",
     "similar": ["如何退货", "退货流程是什么"]},
    {"id": "inv-1", "question": "发票怎么开？",
     "answer": "在订单页点击开具发票，填写抬头和税号，电子发票1个工作日内发到邮箱。", "similar": ["如何开票"]},
    {"id": "shp-1", "question": "快递多久能到？", "answer": "下单后一般2到3天送达，偏远地区5到7天。",
     "similar": ["几天能到", "物流多久"]},
    {"id": "pts-1", "question": "积分怎么兑换？", "answer": "在会员中心的积分商城选择商品即可兑换，100积分抵1元。",
     "similar": ["积分能换什么"]},
]
FAQ = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in FAQ_ROWS)


@pytest.fixture
async def knowledge(tmp_path, embedder):
    redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    store = KnowledgeStore(MilvusConnection(str(tmp_path / "kb.db")), dim=embedder.dim)
    await store.ensure()
    version = KnowledgeVersion(redis)
    kb = KnowledgeBase(store, embedder, VersionRegistry(tmp_path), version)
    faq = tmp_path / "faq.jsonl"
    faq.write_text(FAQ, encoding="utf-8")
    await kb.ingest_file(faq)
    yield kb, Retriever(store, embedder), AnswerCache(redis, version)
    await store.connection.close()


async def test_extractive_answer_handover_and_cache(knowledge):
    _, retriever, cache = knowledge
    answerer = Answerer(retriever, cache=cache)
    answer = await answerer.answer("我想退货该怎么操作")
    assert answer.decision == "answer" and "7天内可无理由退货" in answer.text
    assert answer.sources[0]["source_id"] == "file:faq.jsonl"
    unknown = await answerer.answer("你们公司的股票代码是多少")
    assert unknown.decision == "escalate" and "人工客服" in unknown.text
    again = await answerer.answer("我想退货该怎么操作？")
    assert again.cached and again.text == answer.text
    assert set(again.timings_ms) == {"total"}  # its own lookup time, not the first answer's steps
    unknown_again = await answerer.answer("你们公司的股票代码是多少")  # retrieval hand-overs are cached too
    assert unknown_again.cached and unknown_again.decision == "escalate"
    assert unknown_again.reason in ("low_similarity", "low_confidence")


async def test_reingest_embeds_only_what_changed_and_rolls_back(knowledge, tmp_path):
    kb, retriever, _ = knowledge
    faq = tmp_path / "faq.jsonl"
    faq.write_text(FAQ.replace("100积分抵1元", "50积分抵1元"), encoding="utf-8")
    changed = await kb.ingest_file(faq)
    assert (changed.version, changed.added, changed.removed) == (2, 2, 2)  # one entry, two phrasings
    hits = await retriever.search("积分怎么兑换", top_k=1)
    assert "50积分抵1元" in hits.candidates[0].hit.answer
    assert [v.version for v in await kb.list_versions("file:faq.jsonl")] == [1, 2]
    rolled = await kb.rollback("file:faq.jsonl", 1)
    assert (rolled.added, rolled.removed) == (2, 2)
    hits = await retriever.search("积分怎么兑换", top_k=1)
    assert "100积分抵1元" in hits.candidates[0].hit.answer


async def test_broken_files_are_refused_and_nothing_is_written(knowledge, tmp_path):
    kb, _, _ = knowledge
    before = await kb.store.count()
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really a pdf")
    with pytest.raises(Exception, match=r"broken\.pdf"):
        await kb.ingest_file(bad)
    empty = tmp_path / "empty.md"
    empty.write_text("#\n\n", encoding="utf-8")
    with pytest.raises(QualityRejected):
        await kb.ingest_file(empty)
    assert await kb.store.count() == before
    assert [d["source_id"] for d in await kb.documents()] == ["file:faq.jsonl"]


async def test_llm_answer_with_citation_and_fallback_on_timeout(knowledge):
    _, retriever, _ = knowledge
    async with OpenAIChatServer() as llm_server:
        llm = LLMClient(base_url=llm_server.base_url, api_key="test-key", model="test-model", timeout_s=0.5)
        answerer = Answerer(retriever, generator=AnswerGenerator(llm, check_groundedness=True))
        llm_server.enqueue("签收后7天内可以在订单详情页申请无理由退货[1]。", '{"grounded": true, "unsupported": []}')
        answer = await answerer.answer("买了的东西能退吗？我的电话13812345678")
        assert answer.decision == "answer" and answer.reason == "generated"
        assert answer.text.startswith("签收后7天内")
        assert "13812345678" not in llm_server.requests[0].text  # masked before it left the process
        llm_server.enqueue("这个问题资料里没有[1]。", '{"grounded": false, "unsupported": ["x"]}')
        ungrounded = await answerer.answer("退货流程是什么")
        assert ungrounded.decision == "escalate" and ungrounded.reason == "ungrounded"
        llm_server.enqueue(slow("太慢了", 5.0))
        fallback = await answerer.answer("如何退货")
        assert fallback.reason == "extractive" and "7天内可无理由退货" in fallback.text


async def test_ambiguous_question_offers_suggestions(knowledge):
    _, retriever, _ = knowledge
    # Answering never confident enough: whatever is plausible becomes a button.
    answerer = Answerer(retriever, policy=AnswerPolicy(answer_probability={"faq": 1.01, "passage": 1.01},
                                                       suggest_probability=0.0))
    answer = await answerer.answer("退货")
    assert answer.decision == "suggest"
    assert "怎么申请退货？" in answer.suggestions and len(answer.suggestions) <= 4
    assert [o["label"] for o in answer.options] == answer.suggestions and all(o["key"] for o in answer.options)


# -- live Feishu docs ------------------------------------------------------------------------------


@pytest.fixture
async def live(emulator, knowledge, tmp_path):
    kb, retriever, _ = knowledge
    emulator.config.app_id = EmulatorDefaults.app_id
    feishu = FeishuClient(EmulatorDefaults.app_id, EmulatorDefaults.app_secret, emulator.base_url)
    sync = DocSync(feishu, kb, tmp_path, debounce_s=0.2)
    doc = emulator.create_doc("售后手册", [{"type": "heading1", "text": "退货"}] +
                              [{"type": "text", "text": f"第{i}条：退货需要保留包装和发票{i}。"} for i in range(8)])
    yield sync, doc, retriever
    await feishu.close()


def edit_event(document_id: str, received_ms: int) -> FeishuEvent:
    return FeishuEvent(f"edit-{received_ms}", "drive.file.edit_v1",
                       {"event": {"file_type": "docx", "file_token": document_id}}, received_at_ms=received_ms)


async def test_doc_edit_reembeds_only_the_changed_block(live, emulator):
    sync, doc, retriever = live
    first = await sync.subscribe(doc["document_id"])
    assert first[0].added == 8  # eight text blocks; the heading is each chunk's path, not a chunk
    assert emulator.state.subscriptions.get(doc["document_id"]) == "docx"
    block = doc["blocks"][3]["block_id"]
    await emulator.edit_doc(doc["document_id"], [{"op": "update_text", "block_id": block,
                                                  "text": "新规定：以旧换新可补贴200元。"}])
    report = await sync.sync_document(doc["document_id"])
    assert (report.added, report.removed) == (1, 1)
    hits = await retriever.search("以旧换新补贴多少钱", top_k=1)
    assert hits.candidates[0].hit.block_id == block


async def test_older_revision_is_ignored(live, emulator):
    sync, doc, _ = live
    await sync.subscribe(doc["document_id"])
    current = sync.subs.get(doc["document_id"]).revision_id
    emulator.state.documents[doc["document_id"]].revision_id = current - 1  # a stale read
    report = await sync.sync_document(doc["document_id"], force=True)
    assert report.skipped == "stale_revision"


async def test_burst_of_edits_is_debounced_to_one_sync(live, emulator):
    sync, doc, _ = live
    await sync.subscribe(doc["document_id"])
    now = int(time.time() * 1000)
    reports = await asyncio.gather(*(sync.handle_edit(edit_event(doc["document_id"], now + i * 20))
                                     for i in range(5)))
    assert [r.skipped for r in reports].count("superseded") == 4


async def test_trashed_doc_leaves_the_knowledge_and_reconcile_catches_missed_edits(live, emulator):
    sync, doc, _ = live
    await sync.subscribe(doc["document_id"])
    block = doc["blocks"][5]["block_id"]
    emulator.state.subscriptions.pop(doc["document_id"])  # the edit event is lost on the way
    await emulator.edit_doc(doc["document_id"], [{"op": "update_text", "block_id": block,
                                                  "text": "补充说明：大件家电上门取件免费。"}])
    reports = await sync.reconcile()
    assert reports[0].added == 1
    await sync.handle_removed(FeishuEvent("t1", "drive.file.trashed_v1",
                                          {"event": {"file_token": doc["document_id"]}}))
    assert await sync.kb.store.chunk_ids(source_id_for(doc["document_id"])) == {}
    assert sync.subs.get(doc["document_id"]).status == "trashed"


async def test_wiki_space_is_crawled_to_its_docs(live, emulator):
    sync, doc, _ = live
    other = emulator.create_doc("发票说明", [{"type": "text", "text": "电子发票发送到预留邮箱，纸质发票随包裹寄出。"}])
    space = emulator.create_wiki_space("客服知识库")
    root = emulator.create_wiki_node(space["space_id"], doc["document_id"], title="售后手册")
    emulator.create_wiki_node(space["space_id"], other["document_id"], title="发票说明",
                              parent_node_token=root["node_token"])
    reports = await sync.subscribe(f"https://example.feishu.cn/wiki/{root['node_token']}")
    assert sorted(r.document_id for r in reports) == sorted([doc["document_id"], other["document_id"]])


async def test_large_lite_store_goes_dense_only(knowledge, embedder):
    kb, _, _ = knowledge
    calls = []
    real_bm25 = kb.store.bm25_search

    async def counting_bm25(*args, **kwargs):
        calls.append(1)
        return await real_bm25(*args, **kwargs)

    kb.store.bm25_search = counting_bm25
    small = Retriever(kb.store, embedder, bm25_max_rows=1000)
    capped = Retriever(kb.store, embedder, bm25_max_rows=3)  # the FAQ fixture holds 10 rows
    assert (await small.search("怎么退货")).candidates[0].bm25 > 0
    assert len(calls) == 1
    result = await capped.search("怎么退货")
    assert len(calls) == 1 and result.candidates[0].hit.block_id == "ret-1"
    assert all(c.bm25 == 0 for c in result.candidates)


async def test_document_passage_answer_names_its_source(knowledge):
    kb, retriever, _ = knowledge
    from sync.parsers import parse_text

    text = "# 保修政策\n\n## 屏幕碎裂\n\n人为摔落导致的屏幕碎裂不在免费保修范围内，可付费更换屏幕，费用按机型报价。\n"
    doc = parse_text(text, source_id="doc:warranty", title="保修政策", fmt="md", knowledge_type="policy")
    await kb.ingest_document(doc)
    answer = await Answerer(retriever).answer("手机摔碎屏幕了能免费修吗")
    assert answer.decision == "answer"
    assert answer.text.splitlines()[0].startswith("根据《保修政策") and "屏幕碎裂" in answer.text.splitlines()[0]
    assert "人为摔落" in answer.text
    assert answer.sources[0]["headings"] and answer.sources[0]["knowledge_type"] == "policy"
