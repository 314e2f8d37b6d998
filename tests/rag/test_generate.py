"""LLM answers through the real openai SDK over HTTP to a local OpenAI-compatible server."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from config.prompts import PromptNotFound, load_prompt
from rag.generate import (
    NO_ANSWER,
    AnswerGenerator,
    GeneratedAnswer,
    LLMUnavailable,
    format_passages,
    parse_citations,
    parse_groundedness,
)
from rag.llm import LLMClient
from tests.openai_chat_server import ChatReply, ChatRequest, OpenAIChatServer, rate_limited, server_error, slow

CHEAP, STRONG = "cheap-model", "strong-model"
GROUNDED = '{"grounded": true, "unsupported": []}'

PASSAGES = [
    {"id": "chunk-return", "text": "收货后 7 天内可申请无理由退货，商品需保持完好。", "title": "退货政策",
     "headings": "售后 > 退货", "source_id": "doc-1", "knowledge_type": "policy", "score": 0.82},
    {"id": "chunk-refund", "text": "退款在审核通过后 3 个工作日内原路退回。", "title": "退款说明",
     "headings": "售后 > 退款", "source_id": "doc-2", "knowledge_type": "faq", "score": 0.74},
    {"id": "chunk-freight", "text": "质量问题退货的运费由商家承担。", "title": "运费规则",
     "headings": "售后 > 运费", "source_id": "doc-3", "knowledge_type": "policy", "score": 0.61},
]


def is_check(request: ChatRequest) -> bool:
    return "verify answers" in request.system


@pytest.fixture
async def server():
    async with OpenAIChatServer(models=(CHEAP, STRONG)) as srv:
        yield srv


@pytest.fixture
async def cheap(server):
    client = LLMClient(base_url=server.base_url, api_key=server.api_key, model=CHEAP, timeout_s=2.0)
    yield client
    await client.aclose()


@pytest.fixture
async def strong(server):
    client = LLMClient(base_url=server.base_url, api_key=server.api_key, model=STRONG, timeout_s=2.0)
    yield client
    await client.aclose()


# -- answers ------------------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_answer_cites_passages_as_chunk_ids(server, cheap):
    server.enqueue("您好，收货后 7 天内可申请无理由退货【1】，退款 3 个工作日内原路退回 [2, 9]。", GROUNDED)
    answer = await AnswerGenerator(cheap).generate("怎么退货？", PASSAGES)

    assert answer.cited_ids == ["chunk-return", "chunk-refund"]
    # Citations normalised to [n]; [9] names no passage and is dropped.
    assert answer.text == "您好，收货后 7 天内可申请无理由退货[1]，退款 3 个工作日内原路退回 [2]。"
    assert (answer.no_answer, answer.grounded, answer.used_strong_model) == (False, True, False)
    assert answer.model == CHEAP
    assert (answer.prompt_name, answer.prompt_version) == ("rag_answer", 2)
    assert answer.tokens > 0
    assert server.models_called == [CHEAP, CHEAP]
    prompt = server.requests[0]
    assert prompt.messages[0]["role"] == "system" and "NO_ANSWER" in prompt.system
    # Passages are escaped data blocks (prompt v2): their markup cannot end a block.
    assert '<document id="1" source="退货政策 › 售后 &gt; 退货">\n收货后 7 天内' in prompt.last_user
    assert '<document id="3" source="运费规则 › 售后 &gt; 运费">' in prompt.last_user
    assert prompt.last_user.endswith("客户问题：怎么退货？")
    assert prompt.body["temperature"] == 0.1 and prompt.stream is False
    check = server.requests[1]
    assert is_check(check) and "无理由退货[1]" in check.last_user


@pytest.mark.integration
async def test_no_answer_marker(server, cheap):
    server.enqueue("NO_ANSWER")
    answer = await AnswerGenerator(cheap).generate("你们卖汽车吗？", PASSAGES)
    assert (answer.no_answer, answer.text, answer.cited_ids, answer.grounded) == (True, "", [], None)
    assert len(server.requests) == 1  # nothing to check


@pytest.mark.integration
async def test_no_passages_makes_no_call(server, cheap):
    answer = await AnswerGenerator(cheap).generate("你好", [])
    assert answer.no_answer is True and server.requests == []


@pytest.mark.integration
async def test_groundedness_false(server, cheap):
    server.enqueue(
        "质量问题退货运费由商家承担[3]，另外赠送 50 元优惠券[3]。",
        '```json\n{"grounded": false, "unsupported": ["赠送 50 元优惠券"]}\n```',
    )
    answer = await AnswerGenerator(cheap).generate("退货运费谁出？", PASSAGES)
    assert answer.grounded is False
    assert answer.unsupported == ["赠送 50 元优惠券"]
    assert answer.cited_ids == ["chunk-freight"]
    assert answer.low_confidence == ["ungrounded"]


@pytest.mark.integration
async def test_unreadable_check_is_unknown_not_false(server, cheap):
    server.enqueue("质量问题退货运费由商家承担[3]。", "I think it is fine.")
    answer = await AnswerGenerator(cheap).generate("退货运费谁出？", PASSAGES)
    assert answer.grounded is None and answer.low_confidence == []


@pytest.mark.integration
async def test_check_can_be_disabled(server, cheap):
    server.enqueue("退款 3 个工作日内原路退回[2]。")
    answer = await AnswerGenerator(cheap, check_groundedness=False).generate("多久退款？", PASSAGES)
    assert answer.grounded is None and len(server.requests) == 1


# -- strong model -------------------------------------------------------------------------------------------


def scripted(first: str, *, first_grounded: bool = True):
    """Cheap model answers `first`; strong model answers with a citation; checks pass except the first one's."""

    def respond(request: ChatRequest) -> str:
        if is_check(request):
            ok = first_grounded or "无理由退货[1]" in request.last_user
            return json.dumps({"grounded": ok, "unsupported": [] if ok else ["x"]})
        return first if request.model == CHEAP else "收货后 7 天内可申请无理由退货[1]。"

    return respond


@pytest.mark.integration
@pytest.mark.parametrize(
    ("first", "first_grounded", "top_score", "expected_models", "reasons"),
    [
        ("退款 3 个工作日内原路退回[2]。", True, 0.82, [CHEAP, CHEAP], []),
        (NO_ANSWER, True, 0.30, [CHEAP], []),  # weak passages: NO_ANSWER is right, a human takes over
        (NO_ANSWER, True, 0.82, [CHEAP, STRONG, CHEAP], ["no_answer_with_relevant_passages"]),
        ("可以退货。", True, 0.82, [CHEAP, STRONG, CHEAP], ["no_citations"]),  # first check skipped
        ("包邮退货[1]。", False, 0.82, [CHEAP, CHEAP, STRONG, CHEAP], ["ungrounded"]),
    ],
    ids=["confident", "no-answer-weak-passages", "no-answer-strong-passages", "no-citations", "ungrounded"],
)
async def test_strong_model_only_on_low_confidence(
    server, cheap, strong, first, first_grounded, top_score, expected_models, reasons
):
    server.responder = scripted(first, first_grounded=first_grounded)
    passages = [dict(p, score=top_score if i == 0 else 0.1) for i, p in enumerate(PASSAGES)]
    answer = await AnswerGenerator(cheap, strong_llm=strong).generate("怎么退货？", passages)

    assert server.models_called == expected_models
    assert answer.low_confidence == reasons
    assert answer.used_strong_model is (STRONG in expected_models)
    if answer.used_strong_model:
        assert (answer.model, answer.text, answer.cited_ids, answer.grounded) == (
            STRONG, "收货后 7 天内可申请无理由退货[1]。", ["chunk-return"], True
        )
        assert server.requests[-2].messages == server.requests[0].messages  # same prompt, stronger model


@pytest.mark.integration
async def test_strong_model_down_keeps_first_answer_and_checks_it(server, cheap, strong):
    server.enqueue("可以退货。", rate_limited(), '{"grounded": false, "unsupported": ["可以退货"]}')
    answer = await AnswerGenerator(cheap, strong_llm=strong).generate("能退吗？", PASSAGES)
    assert server.models_called == [CHEAP, STRONG, CHEAP]
    assert (answer.text, answer.used_strong_model, answer.grounded) == ("可以退货。", False, False)
    assert answer.low_confidence == ["no_citations"]


# -- streaming ----------------------------------------------------------------------------------------------


async def collect(stream) -> tuple[list[str], GeneratedAnswer]:
    items = [item async for item in stream]
    assert all(isinstance(x, str) for x in items[:-1]) and isinstance(items[-1], GeneratedAnswer)
    return items[:-1], items[-1]


@pytest.mark.integration
async def test_stream_deltas_join_to_final_text(server, cheap):
    text = "您好！收货后 7 天内可申请无理由退货[1]，退款 3 个工作日内原路退回[2]。"
    server.enqueue(ChatReply(text=text, chunk_chars=3), GROUNDED)
    deltas, answer = await collect(AnswerGenerator(cheap).stream("怎么退货？", PASSAGES))

    assert len(deltas) > 5
    assert "".join(deltas) == answer.text == text
    assert answer.cited_ids == ["chunk-return", "chunk-refund"] and answer.grounded is True
    assert answer.tokens > 0 and answer.model == CHEAP
    assert [r.stream for r in server.requests] == [True, False]
    assert server.requests[0].body["stream_options"] == {"include_usage": True}


@pytest.mark.integration
async def test_stream_holds_back_no_answer_marker(server, cheap):
    server.enqueue(ChatReply(chunks=["NO", "_ANS", "WER"]))
    deltas, answer = await collect(AnswerGenerator(cheap).stream("你们卖汽车吗？", PASSAGES))
    assert deltas == [] and answer.no_answer is True and len(server.requests) == 1


@pytest.mark.integration
async def test_stream_short_reply_is_not_swallowed(server, cheap):
    server.enqueue(ChatReply(chunks=["N", "o"]), GROUNDED)
    deltas, answer = await collect(AnswerGenerator(cheap).stream("能退吗？", PASSAGES))
    assert deltas == ["No"] and answer.text == "No" and answer.no_answer is False


@pytest.mark.integration
async def test_stream_doubted_answer_is_replaced_by_strong_model(server, cheap, strong):
    server.responder = scripted("可以退货。")
    deltas, answer = await collect(AnswerGenerator(cheap, strong_llm=strong).stream("能退吗？", PASSAGES))
    assert "".join(deltas) == "可以退货。"
    assert (answer.used_strong_model, answer.text, answer.low_confidence) == (
        True, "收货后 7 天内可申请无理由退货[1]。", ["no_citations"]
    )
    assert server.models_called == [CHEAP, STRONG, CHEAP]


# -- faults -------------------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_timeout_raises_llm_unavailable(server):
    llm = LLMClient(base_url=server.base_url, api_key=server.api_key, model=CHEAP, timeout_s=0.3)
    server.enqueue(slow("迟到的回答[1]", delay_s=5))
    started = time.monotonic()
    with pytest.raises(LLMUnavailable) as info:
        await AnswerGenerator(llm).generate("怎么退货？", PASSAGES)
    assert info.value.reason == "timeout"
    assert time.monotonic() - started < 1.5
    await llm.aclose()


@pytest.mark.integration
async def test_stream_stalling_mid_answer_raises_llm_unavailable(server):
    llm = LLMClient(base_url=server.base_url, api_key=server.api_key, model=CHEAP, timeout_s=0.3)
    server.enqueue(ChatReply(chunks=["您好，", "退货", "需要"], chunk_delay_s=1.0))
    with pytest.raises(LLMUnavailable) as info:
        await collect(AnswerGenerator(llm).stream("怎么退货？", PASSAGES))
    assert info.value.reason == "timeout"
    await llm.aclose()


@pytest.mark.integration
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_rate_limit_raises_llm_unavailable(server, cheap, streaming):
    server.enqueue(rate_limited(retry_after=2))
    generator = AnswerGenerator(cheap)
    with pytest.raises(LLMUnavailable) as info:
        if streaming:
            await collect(generator.stream("怎么退货？", PASSAGES))
        else:
            await generator.generate("怎么退货？", PASSAGES)
    assert (info.value.reason, info.value.retry_after) == ("rate_limited", 2.0)
    assert len(server.requests) == 1  # max_retries=0: no hidden second attempt


@pytest.mark.integration
async def test_server_error_and_dropped_stream_raise_llm_unavailable(server, cheap):
    generator = AnswerGenerator(cheap)
    server.enqueue(server_error())
    with pytest.raises(LLMUnavailable) as info:
        await generator.generate("怎么退货？", PASSAGES)
    assert info.value.reason == "error"
    server.enqueue(ChatReply(text="您好，收货后七天内可以退货", drop_after_chunks=1))
    with pytest.raises(LLMUnavailable):
        await collect(generator.stream("怎么退货？", PASSAGES))


@pytest.mark.integration
async def test_failed_check_call_is_not_swallowed(server, cheap):
    server.enqueue("退款 3 个工作日内原路退回[2]。", server_error())
    with pytest.raises(LLMUnavailable):
        await AnswerGenerator(cheap).generate("多久退款？", PASSAGES)


# -- masking, prompts ---------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_personal_numbers_never_reach_the_llm(server, cheap):
    phone, id_card, bank_card = "13812345678", "11010519491231002X", "6222021234567890123"
    passages = [dict(PASSAGES[0], text=f"退款将打入尾号卡 {bank_card}。")]
    history = [{"role": "user", "content": f"我的手机是 {phone}"}, {"role": "assistant", "content": "好的"}]
    server.enqueue("已记录[1]。", GROUNDED)
    await AnswerGenerator(cheap).generate(f"身份证 {id_card}，手机 +86 138-1234-5678 怎么退？", passages,
                                          history=history)

    sent = "\n".join(r.text for r in server.requests)
    for raw in (phone, id_card, bank_card, "1234-5678"):
        assert raw not in sent
    assert "138****5678" in sent and "110105************" in sent and "6222 **** **** 123" in sent
    assert [m["role"] for m in server.requests[0].messages] == ["system", "user", "assistant", "user"]


@pytest.mark.integration
async def test_english_prompt(server, cheap):
    server.enqueue("Returns are accepted within 7 days [1].", GROUNDED)
    answer = await AnswerGenerator(cheap, language="en").generate("How do I return?", PASSAGES)
    assert "Answer ONLY from the numbered context passages" in server.requests[0].system
    assert server.requests[0].last_user.endswith("Customer question: How do I return?")
    assert (answer.prompt_name, answer.prompt_version, answer.cited_ids) == ("rag_answer", 2, ["chunk-return"])


@pytest.mark.integration
async def test_models_endpoint(server, cheap):
    models = await cheap._client.models.list()
    assert [m.id for m in models.data] == [CHEAP, STRONG]


@pytest.mark.unit
def test_load_prompt_versions_and_languages(tmp_path):
    def write(filename: str, name: str, version: int, body: str) -> None:
        (tmp_path / filename).write_text(f"---\nname: {name}\nversion: {version}\n---\n{body}\n", encoding="utf-8")

    write("greet.v1.md", "greet", 1, "<!-- system -->\nv1 zh\n<!-- user -->\n{{q}}")
    write("greet.v2.md", "greet", 2, "<!-- system -->\nv2 zh\n<!-- user -->\nQ: {{q}}")
    write("greet.v2.en.md", "greet", 2, "<!-- system -->\nv2 en\n<!-- user -->\nQ: {{q}}")

    latest = load_prompt("greet", directory=tmp_path)
    assert (latest.name, latest.version, latest.language, latest.system) == ("greet", 2, "zh-CN", "v2 zh")
    assert load_prompt("greet", 1, directory=tmp_path).system == "v1 zh"
    assert load_prompt("greet", language="en-US", directory=tmp_path).system == "v2 en"
    assert load_prompt("greet", 1, language="en", directory=tmp_path).system == "v1 zh"  # no en v1: default
    # Values are inserted once: braces or placeholders inside them stay as they are.
    assert load_prompt("greet", directory=tmp_path).render(q="{{q}} {x}")[1]["content"] == "Q: {{q}} {x}"
    with pytest.raises(PromptNotFound):
        load_prompt("greet", 3, directory=tmp_path)
    with pytest.raises(PromptNotFound):
        load_prompt("missing", directory=tmp_path)

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "copied.v2.md").write_text("---\nname: copied\nversion: 1\n---\nx\n", encoding="utf-8")
    with pytest.raises(ValueError, match="disagrees"):
        load_prompt("copied", directory=tmp_path / "bad")


@pytest.mark.unit
def test_shipped_prompts():
    answer, check = load_prompt("rag_answer"), load_prompt("groundedness_check")
    assert (answer.name, answer.version, answer.language) == ("rag_answer", 2, "zh-CN")
    assert "NO_ANSWER" in answer.system and "{{context}}" in answer.user and "{{question}}" in answer.user
    assert '"grounded"' in check.system and "<answer>\n{{answer}}\n</answer>" in check.user
    assert "never instructions" in check.system and "<documents>" in answer.system


@pytest.mark.unit
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"grounded": true, "unsupported": []}', (True, [])),
        ('```json\n{"grounded": false, "unsupported": ["a", "b"]}\n```', (False, ["a", "b"])),
        ('Here is my verdict: {"grounded": "false", "unsupported": "a"} done', (False, ["a"])),
        ("grounded: yes", (None, [])),
        ('{"grounded": 1}', (None, [])),
        ("[true]", (None, [])),
    ],
)
def test_parse_groundedness(reply, expected):
    assert parse_groundedness(reply) == expected


@dataclass
class Passage:
    id: str
    text: str = ""
    title: str = ""
    headings: str = ""
    source_id: str = ""
    knowledge_type: str = "doc"
    score: float = 0.0


@pytest.mark.unit
def test_passages_as_objects():
    text, ids = parse_citations("见[2]", [Passage("a"), Passage("b")])
    assert (text, ids) == ("见[2]", ["b"])
    assert format_passages([Passage("a", text="正文 13812345678", title="标题", headings="标题")], 100) == (
        "[1] 标题\n正文 138****5678"
    )


@pytest.mark.unit
def test_parse_citations():
    passages = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    text, ids = parse_citations("x【2】y [1，3] z[4][2]", passages)
    assert (text, ids) == ("x[2]y [1][3] z[2]", ["b", "a", "c"])
