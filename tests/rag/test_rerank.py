"""FlagRerankerWrapper on a tiny random cross-encoder, loaded through FlagEmbedding's real code."""

from __future__ import annotations

import math

import pytest

from rag.rerank import FlagRerankerWrapper, Reranker
from tests.rag.conftest import CHINESE_SENTENCES


@pytest.fixture(scope="module")
def reranker(tiny_reranker_dir):
    return FlagRerankerWrapper(str(tiny_reranker_dir), batch_size=2, device="cpu")


def reference_scores(model_dir, query: str, passages: list[str]) -> list[float]:
    """Sigmoid of the cross-encoder logit, one pair at a time, straight through transformers."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        logits = [float(model(**tok(query, p, return_tensors="pt")).logits[0, 0]) for p in passages]
    return [1 / (1 + math.exp(-x)) for x in logits]


@pytest.mark.unit
def test_rerank_scores_are_sigmoid_logits_in_input_order(reranker, tiny_reranker_dir):
    passages = CHINESE_SENTENCES[:5]
    scores = reranker.rerank("怎么退货", passages)

    assert isinstance(reranker, Reranker)
    assert len(scores) == 5 and all(0.0 < s < 1.0 for s in scores)
    assert scores == pytest.approx(reference_scores(tiny_reranker_dir, "怎么退货", passages), abs=1e-4)
    # FlagEmbedding sorts by length internally; the wrapper must hand scores back in input order.
    assert reranker.rerank("怎么退货", passages[::-1]) == pytest.approx(scores[::-1], abs=1e-5)
    assert len(set(round(s, 4) for s in scores)) > 1  # the random model still separates passages


@pytest.mark.unit
def test_rerank_edge_cases(reranker, tmp_path):
    assert reranker.rerank("怎么退货", []) == []
    one = reranker.rerank("怎么退货", [CHINESE_SENTENCES[0]])
    assert len(one) == 1 and 0.0 < one[0] < 1.0
    with pytest.raises(TypeError):
        reranker.rerank("q", "a single passage string")
    with pytest.raises(FileNotFoundError):
        FlagRerankerWrapper(str(tmp_path))
