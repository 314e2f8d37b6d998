"""The fast offline embedder (multilingual USE v3) behind the same Protocol."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedders import Embedder
from rag.embedders.factory import create_embedder

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def use():
    return create_embedder("use")


def test_shapes_normalization_and_protocol(use):
    assert isinstance(use, Embedder) and use.name == "use-m3"
    docs = use.embed_documents(["退货政策", "发票说明", "物流时效"])
    assert docs.shape == (3, use.dim) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert use.embed_queries([]).shape == (0, use.dim)
    with pytest.raises(TypeError):
        use.embed_queries("not a list")


def test_chinese_paraphrase_is_closest_to_its_passage(use):
    passages = use.embed_documents([
        "签收后7天内，商品完好可以申请无理由退货，退款原路返回。",
        "订单支付后48小时内发货，偏远地区物流需要5到7天。",
        "电子发票在订单完成后开具，发送到您预留的邮箱。",
    ])
    queries = use.embed_queries(["买的东西不想要了怎么退", "多久能发货", "发票什么时候开"])
    assert list(np.argmax(queries @ passages.T, axis=1)) == [0, 1, 2]
