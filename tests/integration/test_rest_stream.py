"""SSE chat: with a streaming LLM the tokens arrive one by one before `done`; without streaming (a cached
answer) the whole reply is one token event. Read both with aiohttp and with the example client."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.openai_chat_server import ChatReply, OpenAIChatServer
from tests.rest_client import load_example, start_rest_server

pytestmark = pytest.mark.integration

ANSWER = "在订单详情页点击申请退货，签收后7天内可无理由退货[1]。"
CHUNK_DELAY_S = 0.06


@pytest.fixture
async def llm():
    async with OpenAIChatServer() as server:
        def respond(request):
            if request.stream:
                return ChatReply(text=ANSWER, chunk_chars=4, chunk_delay_s=CHUNK_DELAY_S)
            return '{"intent": "faq", "negative": false}'  # the intent classifier

        server.responder = respond
        yield server


@pytest.fixture
async def rest(tmp_path, embedder, llm):
    server = await start_rest_server(tmp_path, embedder=embedder, llm_base_url=llm.base_url, llm_model="test-model",
                                     llm_api_key="test-key", llm_groundedness_check=False)
    yield server
    await server.close()


async def read_events(rest, body) -> list[tuple[str, dict, float]]:
    """(event, data, seconds since the request) for each event, timed as it arrives."""
    events, buffer = [], b""
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, \
            http.post(f"{rest.url}/api/v1/chat/stream", json=body) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        async for chunk in response.content.iter_any():
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                lines = dict(line.split(": ", 1) for line in block.decode().splitlines())
                events.append((lines["event"], json.loads(lines["data"]), time.monotonic() - started))
    return events


async def test_tokens_stream_one_by_one_then_done(rest, llm):
    events = await read_events(rest, {"message": "怎么申请退货？"})
    names = [e for e, _, _ in events]
    assert names[0] == "meta" and names[-1] == "done" and names.count("done") == 1
    tokens = [(d["content"], t) for e, d, t in events if e == "token"]
    assert len(tokens) >= 5
    assert "".join(c for c, _ in tokens).startswith("在订单详情页点击申请退货")
    # They arrived spread over the LLM's pace, not all at once at the end.
    assert tokens[-1][1] - tokens[0][1] >= CHUNK_DELAY_S * (len(tokens) - 2)
    assert events[-1][2] - tokens[0][1] >= CHUNK_DELAY_S * (len(tokens) - 2)
    meta, done = events[0][1], events[-1][1]
    assert done["session_id"] == meta["session_id"] and done["status"] == "ok"
    assert "7天内可无理由退货" in done["reply"] and done["data"]["intent"] == "faq"
    assert any(r.stream for r in llm.requests)

    # The same question again is a cached, non-streamed answer: one token event with the whole reply.
    again = await read_events(rest, {"message": "怎么申请退货？", "session_id": meta["session_id"]})
    assert [e for e, _, _ in again] == ["meta", "token", "done"]
    assert again[1][1]["content"] == again[2][1]["reply"]


async def test_example_client_streams_chats_and_ingests(rest, tmp_path):
    client_module = load_example("larkdesk_client")
    client = client_module.LarkdeskClient(rest.url)

    def stream() -> list[tuple[str, dict, float]]:
        started = time.monotonic()
        return [(e, d, time.monotonic() - started) for e, d in client.chat_stream("如何退货")]

    events = await asyncio.to_thread(stream)
    assert events[0][0] == "meta" and events[-1][0] == "done"
    tokens = [t for e, _, t in events if e == "token"]
    assert len(tokens) >= 5 and tokens[-1] - tokens[0] >= CHUNK_DELAY_S * (len(tokens) - 2)

    sid = events[-1][1]["session_id"]
    reply = await asyncio.to_thread(client.chat, "发票怎么开？", sid)
    assert reply["session_id"] == sid and reply["status"] == "ok" and reply["reply"]

    doc = tmp_path / "shipping.md"
    doc.write_text("# 配送说明\n\n## 偏远地区\n\n新疆、西藏等偏远地区一般5到7天送达，运费按实际重量计算。\n", "utf-8")
    result = await asyncio.to_thread(client.ingest, doc, knowledge_type="policy")
    assert result["source_id"] == "file:shipping.md" and result["chunk_count"] >= 1 and result["version"] == 1

    with pytest.raises(client_module.ApiError) as raised:
        await asyncio.to_thread(client.chat, "hi", "s_missing")
    assert raised.value.status == 404
    client.close()


def test_parse_sse_handles_comments_multiline_and_crlf():
    parse_sse = load_example("larkdesk_client").parse_sse
    lines = [": keep-alive", "event: meta", 'data: {"session_id": "s1"}', "", "event: token\r",
             'data: {"content":', 'data: "a"}', "", 'data: {"x": 1}']
    assert list(parse_sse(lines)) == [("meta", {"session_id": "s1"}), ("token", {"content": "a"}),
                                      ("message", {"x": 1})]
