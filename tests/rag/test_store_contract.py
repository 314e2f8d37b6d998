"""One contract suite for the knowledge store, run on a Milvus Lite file and on a `milvus-lite server` process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from rag.milvus import MilvusConnection
from rag.store import MAX_BYTES, KnowledgeStore, StoreError, StoreUnavailable, fit_bytes, quote
from sync.models import Chunk
from tests.rag.store_conftest import MilvusLiteServer
from tests.redis_server import free_port

DIM = 16


@pytest.fixture(scope="session")
def milvus_server():
    server = MilvusLiteServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(
    params=[
        pytest.param("lite-file", marks=pytest.mark.unit),
        pytest.param("lite-server", marks=pytest.mark.integration),
    ]
)
def backend_uri(request, tmp_path) -> str:
    if request.param == "lite-file":
        return str(tmp_path / "kb.db")
    return request.getfixturevalue("milvus_server").uri


@pytest.fixture
async def open_store(backend_uri):
    """Opens stores on one fresh collection; every connection is closed and the collection dropped after."""
    collection = f"t_{uuid.uuid4().hex[:12]}"
    connections: list[MilvusConnection] = []

    async def make(**kwargs) -> KnowledgeStore:
        connection = MilvusConnection(backend_uri, timeout_s=15)
        connections.append(connection)
        store = KnowledgeStore(connection, collection=collection, dim=kwargs.pop("dim", DIM), **kwargs)
        await store.ensure()
        return store

    yield make
    cleanup = MilvusConnection(backend_uri)
    await KnowledgeStore(cleanup, collection=collection, dim=DIM).drop()
    for connection in [*connections, cleanup]:
        await connection.close()


@pytest.fixture
async def store(open_store) -> KnowledgeStore:
    return await open_store()


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


POLICY = Chunk("policy-returns", "商品签收后七天内可以无理由退货，退货运费由买家承担。", "policy", "blk-1",
               ("售后服务", "退货"), "售后政策", position=0)
INVOICE = Chunk("doc-invoice", "在订单详情页点击申请发票，可以开具增值税普通发票或专用发票。", "doc", "blk-7",
                ("财务",), "发票指南", position=0)
SHIPPING = Chunk("doc-shipping", "订单支付成功后四十八小时内发货，偏远地区物流时间会更长。", "doc", "blk-2",
                 ("物流",), "配送说明", position=1)
FAQ = Chunk("faq-main", "退款一般在三个工作日内原路返回。", "faq", "q-17", (), "常见问题",
            search_text="钱什么时候退回来\n多久能收到退款", question="退款多久到账？",
            answer="退款一般在三个工作日内原路返回。", metadata={"category": "售后"})
SOLUTION = Chunk("sol-login", "清除浏览器缓存后重新登录即可解决验证码不显示的问题。", "solution", "s-3",
                 ("登录问题",), "故障排查", position=2)
CORPUS = [POLICY, INVOICE, SHIPPING, FAQ, SOLUTION]


async def fill(store: KnowledgeStore, chunks: list[Chunk] = CORPUS, seed: int = 0) -> np.ndarray:
    vectors = unit_vectors(len(chunks), seed)
    assert await store.upsert(chunks, vectors) == len(chunks)
    return vectors


async def test_ensure_is_idempotent(store, open_store):
    await store.ensure()
    await store.ensure()
    second = await open_store()  # another store object on an existing collection: checks and loads it
    await second.ensure()
    assert await store.count() == 0
    assert await second.count() == 0


async def test_ensure_rejects_a_collection_of_another_dimension(store, open_store):
    with pytest.raises(StoreError, match="16-dim"):
        await open_store(dim=DIM * 2)


async def test_upsert_same_content_twice_is_one_row(store):
    vectors = await fill(store)
    assert await store.count() == len(CORPUS)
    await store.upsert(CORPUS, vectors, version=2)
    await store.upsert([POLICY, POLICY], np.stack([vectors[0], vectors[0]]), version=3)
    assert await store.count() == len(CORPUS)
    [hit] = await store.get([POLICY.id])
    assert hit.version == 3
    assert hit.chunk() == POLICY
    assert hit.chunk().id == POLICY.id


async def test_upsert_rejects_vectors_of_the_wrong_shape(store):
    with pytest.raises(ValueError, match="shape"):
        await store.upsert([POLICY], unit_vectors(2))
    with pytest.raises(ValueError, match="learned"):
        await store.upsert([POLICY], unit_vectors(1), learned=[{1: 0.5}])


async def test_get_round_trips_every_chunk_field(store):
    await fill(store)
    hits = await store.get([FAQ.id, "missing", SOLUTION.id])
    assert [h.id for h in hits] == [FAQ.id, SOLUTION.id]
    faq = hits[0]
    assert (faq.source_id, faq.knowledge_type, faq.block_id, faq.title) == ("faq-main", "faq", "q-17", "常见问题")
    assert (faq.question, faq.answer, faq.search_text) == (FAQ.question, FAQ.answer, FAQ.search_text)
    assert faq.metadata == {"category": "售后"}
    assert faq.score == 0.0
    assert hits[1].headings == ("登录问题",)
    assert hits[1].position == 2
    assert [h.chunk() for h in hits] == [FAQ, SOLUTION]


async def test_chunk_ids_and_sources(store):
    second_policy = Chunk("policy-returns", "定制商品不支持无理由退货。", "policy", "blk-2", ("售后服务", "例外"),
                          "售后政策", position=1)
    await fill(store, [*CORPUS, second_policy])
    assert await store.chunk_ids("policy-returns") == {POLICY.id: "blk-1", second_policy.id: "blk-2"}
    assert await store.chunk_ids("no-such-source") == {}
    sources = await store.sources()
    assert [s["source_id"] for s in sources] == sorted(c.source_id for c in CORPUS)
    policy = next(s for s in sources if s["source_id"] == "policy-returns")
    assert policy == {"source_id": "policy-returns", "title": "售后政策", "knowledge_type": "policy", "chunks": 2}


async def test_delete_by_ids_then_by_source(store):
    extra = Chunk("policy-returns", "定制商品不支持无理由退货。", "policy", "blk-2")
    await fill(store, [*CORPUS, extra])
    assert await store.delete("policy-returns", [extra.id]) == 1
    assert await store.chunk_ids("policy-returns") == {POLICY.id: "blk-1"}
    # An id of another source is not deleted through this source.
    assert await store.delete("policy-returns", [INVOICE.id]) == 0
    assert await store.delete("policy-returns", []) == 0
    assert await store.count() == len(CORPUS)
    assert await store.delete("policy-returns") == 1
    assert await store.delete("policy-returns") == 0
    assert await store.count() == len(CORPUS) - 1
    assert [h.source_id for h in await store.bm25_search("退货", 5)] == []


async def test_filter_values_are_quoted(store):
    tricky = 'wiki/"运营"\\手册\n第2版'
    prefix = Chunk('wiki/"运营"', "同名前缀的另一篇文档，讲发票。", "doc")
    target = Chunk(tricky, "特殊字符来源的文档，也讲发票。", "doc")
    await fill(store, [prefix, target])
    assert list(await store.chunk_ids(tricky)) == [target.id]
    hits = await store.bm25_search("发票", 5, source_ids=[tricky])
    assert [h.source_id for h in hits] == [tricky]
    injection = 'x" or source_id != "'
    assert await store.delete(injection) == 0
    assert await store.count() == 2
    assert await store.delete(tricky) == 1
    assert [h.source_id for h in await store.bm25_search("发票", 5)] == [prefix.source_id]


async def test_knowledge_type_filter(store):
    vectors = await fill(store)
    hits = await store.dense_search(vectors[0], 5, knowledge_types=["faq", "solution"])
    assert sorted(h.knowledge_type for h in hits) == ["faq", "solution"]
    hits = await store.bm25_search("退货 退款 发票", 5, knowledge_types=["doc"])
    assert [h.source_id for h in hits] == ["doc-invoice"]
    hits = await store.hybrid_search(vectors[0], "退款", 5, knowledge_types=["faq"])
    assert [h.source_id for h in hits] == ["faq-main"]
    assert await store.dense_search(vectors[0], 5, knowledge_types=[]) == []
    assert await store.dense_search(vectors[0], 5, knowledge_types=["no-such-type"]) == []


async def test_bm25_finds_a_chinese_keyword(store):
    await fill(store)
    hits = await store.bm25_search("怎么开发票", 3)
    assert hits[0].source_id == "doc-invoice"
    assert hits[0].score > 0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert (await store.bm25_search("物流", 3))[0].source_id == "doc-shipping"
    assert await store.bm25_search("   ", 3) == []
    # Stop words and punctuation match (nearly) every row: they are not indexed, so they find nothing.
    assert await store.bm25_search("请问，怎么了？", 3) == []
    assert (await store.bm25_search("请问怎么开发票？", 3))[0].source_id == "doc-invoice"


async def test_bm25_finds_an_faq_by_its_similar_question(store):
    await fill(store)
    assert "什么时候" not in FAQ.text and "什么时候" not in FAQ.question
    hits = await store.bm25_search("钱什么时候退回来", 3)
    assert hits[0].id == FAQ.id
    assert hits[0].answer == FAQ.answer


async def test_dense_search_ranks_the_identical_vector_first(store):
    chunks = [Chunk(f"src-{i % 7}", f"第{i}段内容：关于订单编号{i}的说明。", "doc", f"b{i}", position=i)
              for i in range(60)]
    vectors = await fill(store, chunks, seed=3)
    for i in (0, 17, 59):
        hits = await store.dense_search(vectors[i], 5)
        assert hits[0].id == chunks[i].id
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    hits = await store.dense_search(vectors[17], 5, source_ids=["src-1"])
    assert {h.source_id for h in hits} == {"src-1"}
    with pytest.raises(ValueError, match="dims"):
        await store.dense_search(vectors[0][:4], 5)


async def test_hybrid_rrf_fuses_both_rankings(store):
    vectors = await fill(store)
    # The dense side points at SHIPPING, the BM25 side at INVOICE: both lead the fused list.
    hits = await store.hybrid_search(vectors[2], "发票", 5, fusion="rrf", rrf_k=60)
    assert {h.id for h in hits[:2]} == {SHIPPING.id, INVOICE.id}
    # The fused scores are exactly the reciprocal ranks of the two separate searches.
    dense_rank = {h.id: r for r, h in enumerate(await store.dense_search(vectors[2], 20), 1)}
    bm25_rank = {h.id: r for r, h in enumerate(await store.bm25_search("发票", 20), 1)}
    for hit in hits:
        expected = sum(1 / (60 + ranks[hit.id]) for ranks in (dense_rank, bm25_rank) if hit.id in ranks)
        assert hit.score == pytest.approx(expected, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # A chunk first in both lists gets both reciprocal ranks.
    hits = await store.hybrid_search(vectors[1], "发票", 5, fusion="rrf", rrf_k=60)
    assert hits[0].id == INVOICE.id
    assert hits[0].score == pytest.approx(2 / 61, abs=1e-5)


async def test_hybrid_weighted_follows_the_weights(store):
    vectors = await fill(store)
    query = unit_vectors(1, seed=99)[0]
    dense_order = [h.id for h in await store.dense_search(query, 5)]
    bm25_order = [h.id for h in await store.bm25_search("退货 发票 物流", 5)]
    assert len(bm25_order) == 3
    only_dense = await store.hybrid_search(query, "退货 发票 物流", 5, fusion="weighted", weights=(1.0, 0.0))
    assert [h.id for h in only_dense] == dense_order
    only_bm25 = await store.hybrid_search(query, "退货 发票 物流", 3, fusion="weighted", weights=(0.0, 1.0))
    assert [h.id for h in only_bm25] == bm25_order  # BM25's sign is handled: best match first
    mixed = await store.hybrid_search(vectors[3], "发票", 5, fusion="weighted", weights=(0.5, 0.5))
    assert {FAQ.id, INVOICE.id} <= {h.id for h in mixed[:2]}
    assert all(0.0 <= h.score <= 1.0 for h in mixed)
    with pytest.raises(ValueError, match="fusion"):
        await store.hybrid_search(query, "发票", 5, fusion="max")  # type: ignore[arg-type]


async def test_hybrid_without_text_is_dense_search(store):
    vectors = await fill(store)
    hits = await store.hybrid_search(vectors[4], "  ", 3)
    assert hits[0].id == SOLUTION.id
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


async def test_learned_sparse_search(open_store):
    store = await open_store(learned_sparse=True)
    learned = [{101: 0.8, 7: 0.1}, {202: 0.9}, {303: 0.4, 101: 0.05}, {}, {404: 0.7}]
    await store.upsert(CORPUS, unit_vectors(len(CORPUS)), learned=learned)
    hits = await store.learned_search({101: 1.0}, 5)
    assert [h.id for h in hits[:2]] == [POLICY.id, SHIPPING.id]
    assert hits[0].score == pytest.approx(0.8, abs=1e-4)
    fused = await store.hybrid_search(unit_vectors(1, 5)[0], "发票", 3, learned={202: 1.0})
    assert fused[0].id == INVOICE.id  # first by BM25 and by learned weights
    with pytest.raises(ValueError, match="learned"):
        await store.upsert([POLICY], unit_vectors(1))


async def test_data_persists_after_reopen(open_store, backend_uri):
    store = await open_store()
    vectors = await fill(store)
    await store.connection.close()
    if backend_uri.endswith(".db"):  # closed means released: another process can open the file
        script = ("import sys; from pymilvus import MilvusClient; c = MilvusClient(sys.argv[1]); "
                  "c.load_collection(sys.argv[2]); "
                  "print(c.query(sys.argv[2], filter='', output_fields=['count(*)'])[0]['count(*)'])")
        out = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script, backend_uri, store.collection],
                                      capture_output=True, text=True, timeout=60)
        assert out.stdout.strip().splitlines()[-1] == str(len(CORPUS)), out.stderr[-2000:]
    reopened = await open_store()
    assert await reopened.count() == len(CORPUS)
    assert (await reopened.dense_search(vectors[1], 1))[0].id == INVOICE.id
    assert (await reopened.bm25_search("发票", 1))[0].id == INVOICE.id
    assert (await reopened.hybrid_search(vectors[3], "退款", 1))[0].id == FAQ.id


async def test_count(store):
    assert await store.count() == 0
    await fill(store, CORPUS[:3])
    assert await store.count() == 3
    await store.upsert(CORPUS[3:], unit_vectors(2, seed=1))
    assert await store.count() == 5


async def test_long_unicode_text_is_cut_at_a_character_boundary(store):
    long_text = "退货政策说明🙂" * 10_000  # 70k characters, 190k UTF-8 bytes
    chunk = Chunk("long-doc", long_text, "doc", "b" * 400, ("标题" * 500,), "超长标题" * 300,
                  search_text="同义问法" * 100)
    await store.upsert([chunk], unit_vectors(1))
    [hit] = await store.get([chunk.id])
    assert hit.id == chunk.id
    assert len(hit.text.encode("utf-8")) <= MAX_BYTES["text"]
    assert long_text.startswith(hit.text) and len(hit.text) > 20_000
    assert len(hit.title.encode("utf-8")) <= MAX_BYTES["title"] and chunk.title.startswith(hit.title)
    assert len(hit.block_id) == MAX_BYTES["block_id"]
    assert hit.headings == chunk.headings  # kept whole in metadata
    assert (await store.bm25_search("同义问法", 1))[0].id == chunk.id
    with pytest.raises(ValueError, match="source_id"):
        await store.upsert([Chunk("s" * 600, "x")], unit_vectors(1))


@pytest.mark.unit
def test_fit_bytes_and_quote():
    assert fit_bytes("中文abc", 4) == "中"
    assert fit_bytes("中文abc", 100) == "中文abc"
    assert fit_bytes("🙂🙂", 7) == "🙂"
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


@pytest.mark.unit
async def test_dead_uri_raises_store_unavailable():
    connection = MilvusConnection(f"http://127.0.0.1:{free_port()}", timeout_s=3)
    store = KnowledgeStore(connection, dim=DIM)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        await store.ensure()
    with pytest.raises(StoreUnavailable):
        await connection.ping()
    assert time.monotonic() - started < 10
    await connection.close()


@pytest.mark.integration
async def test_store_that_goes_down_raises_store_unavailable():
    server = MilvusLiteServer()
    server.start()
    connection = MilvusConnection(server.uri, timeout_s=3)
    try:
        store = KnowledgeStore(connection, dim=DIM)
        await fill(store, CORPUS[:2])
        server.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.dense_search(unit_vectors(1)[0], 3)
        with pytest.raises(StoreUnavailable):
            await store.upsert(CORPUS[2:3], unit_vectors(1))
        assert time.monotonic() - started < 10
    finally:
        server.stop()
        await connection.close()
