"""The real lark-oapi SDK (and raw HTTP) against the emulator's Open API."""

from __future__ import annotations

import json

import aiohttp
import lark_oapi as lark
import pytest
from lark_oapi.api.cardkit.v1 import (
    ContentCardElementRequest,
    ContentCardElementRequestBody,
    CreateCardRequest,
    CreateCardRequestBody,
    SettingsCardRequest,
    SettingsCardRequestBody,
)
from lark_oapi.api.docx.v1 import GetDocumentRequest, ListDocumentBlockRequest, RawContentDocumentRequest
from lark_oapi.api.drive.v1 import DeleteSubscribeFileRequest, GetSubscribeFileRequest, SubscribeFileRequest
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    GetMessageRequest,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.api.wiki.v2 import GetNodeSpaceRequest, ListSpaceNodeRequest

from emulator import Emulator, EmulatorConfig
from tests.emulator.conftest import call, text_content

pytestmark = pytest.mark.integration


def _send(
    receive_id: str, content: str, msg_type: str = "text", id_type: str = "open_id", uuid: str | None = None
) -> CreateMessageRequest:
    body = CreateMessageRequestBody.builder().receive_id(receive_id).msg_type(msg_type).content(content)
    if uuid:
        body = body.uuid(uuid)
    return CreateMessageRequest.builder().receive_id_type(id_type).request_body(body.build()).build()


def _reply(message_id: str, content: str, in_thread: bool = False, msg_type: str = "text"):
    body = ReplyMessageRequestBody.builder().content(content).msg_type(msg_type).reply_in_thread(in_thread)
    return ReplyMessageRequest.builder().message_id(message_id).request_body(body.build()).build()


async def _raw(emulator: Emulator, method: str, path: str, *, token: str | None = "auto", **kw):
    headers = kw.pop("headers", {})
    async with aiohttp.ClientSession() as s:
        if token == "auto":
            async with s.post(
                emulator.base_url + "/open-apis/auth/v3/tenant_access_token/internal",
                json={"app_id": emulator.config.app_id, "app_secret": emulator.config.app_secret},
            ) as r:
                token = (await r.json())["tenant_access_token"]
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with s.request(method, emulator.base_url + path, headers=headers, **kw) as r:
            return r.status, dict(r.headers), await r.json()


async def test_token_endpoint_and_auth_errors(emulator: Emulator):
    status, headers, body = await _raw(
        emulator,
        "POST",
        "/open-apis/auth/v3/tenant_access_token/internal",
        token=None,
        json={"app_id": emulator.config.app_id, "app_secret": emulator.config.app_secret},
    )
    assert status == 200 and body["code"] == 0 and body["expire"] == 7200
    assert body["tenant_access_token"].startswith("t-") and "data" not in body
    assert headers.get("X-Tt-Logid")
    status, _, body = await _raw(
        emulator,
        "POST",
        "/open-apis/auth/v3/tenant_access_token/internal",
        token=None,
        json={"app_id": emulator.config.app_id, "app_secret": "wrong"},
    )
    assert (status, body["code"]) == (400, 10014)
    status, headers, body = await _raw(emulator, "GET", "/open-apis/bot/v3/info", token=None)
    assert (status, body["code"]) == (400, 99991661) and headers.get("X-Tt-Logid")
    status, _, body = await _raw(emulator, "GET", "/open-apis/bot/v3/info", token="t-" + "0" * 40)
    assert (status, body["code"]) == (401, 99991663)
    status, _, body = await _raw(emulator, "GET", "/open-apis/bot/v3/info")
    assert body["bot"]["open_id"] == emulator.config.bot_open_id and body["code"] == 0
    status, _, body = await _raw(emulator, "GET", "/open-apis/no/such/api")
    assert status == 404 and body["code"] == 404  # still JSON


async def test_send_reply_thread_get_and_uuid(emulator: Emulator, sdk: lark.Client):
    resp = await call(sdk.im.v1.message.create, _send("ou_alice", text_content("hello")))
    assert resp.success(), resp.msg
    first = resp.data
    assert first.message_id.startswith("om_") and first.chat_id.startswith("oc_")
    assert first.sender.sender_type == "app" and first.sender.id == emulator.config.app_id
    chat = emulator.chat_messages(first.chat_id)
    assert [m["text"] for m in chat] == ["hello"]
    assert emulator.state.chats[first.chat_id].p2p_open_id == "ou_alice"

    # the same uuid twice: one message
    again = [
        await call(sdk.im.v1.message.create, _send("ou_alice", text_content("once"), uuid="u-1")) for _ in range(2)
    ]
    assert again[0].data.message_id == again[1].data.message_id
    assert [m["text"] for m in emulator.chat_messages(first.chat_id)] == ["hello", "once"]

    reply = await call(sdk.im.v1.message.reply, _reply(first.message_id, text_content("r1")))
    assert reply.success()
    assert reply.data.root_id == first.message_id and reply.data.parent_id == first.message_id
    assert reply.data.thread_id is None
    threaded = await call(sdk.im.v1.message.reply, _reply(reply.data.message_id, text_content("t"), True))
    assert threaded.data.root_id == first.message_id and threaded.data.parent_id == reply.data.message_id
    assert threaded.data.thread_id.startswith("omt_")
    got = await call(sdk.im.v1.message.get, GetMessageRequest.builder().message_id(first.message_id).build())
    assert got.data.items[0].thread_id == threaded.data.thread_id  # the root joined the thread
    assert json.loads(got.data.items[0].body.content) == {"text": "hello"}

    bad = await call(sdk.im.v1.message.create, _send("oc_nope", text_content("x"), id_type="chat_id"))
    assert bad.code == 230002
    bad = await call(sdk.im.v1.message.create, _send("ou_alice", "{not json"))
    assert bad.code == 230001


async def test_patch_needs_shared_card(emulator: Emulator, sdk: lark.Client):
    unshared = {"elements": [{"tag": "div", "text": {"tag": "plain_text", "content": "v1"}}]}
    shared = {"config": {"update_multi": True}, **unshared}
    text_msg = (await call(sdk.im.v1.message.create, _send("ou_bob", text_content("t")))).data
    card_msg = (await call(sdk.im.v1.message.create, _send("ou_bob", json.dumps(shared), "interactive"))).data
    plain_card = (await call(sdk.im.v1.message.create, _send("ou_bob", json.dumps(unshared), "interactive"))).data

    def patch(mid: str, card: dict):
        return (
            PatchMessageRequest.builder()
            .message_id(mid)
            .request_body(PatchMessageRequestBody.builder().content(json.dumps(card)).build())
            .build()
        )

    new = {
        "config": {"update_multi": True},
        "elements": [{"tag": "div", "text": {"tag": "plain_text", "content": "v2"}}],
    }
    assert (await call(sdk.im.v1.message.patch, patch(text_msg.message_id, new))).code == 230001
    assert (await call(sdk.im.v1.message.patch, patch(plain_card.message_id, new))).code == 230001
    ok = await call(sdk.im.v1.message.patch, patch(card_msg.message_id, new))
    assert ok.success(), ok.msg
    view = emulator.message(card_msg.message_id)
    assert view["text"] == "v2" and view["updated"] is True


async def test_per_chat_qps_limit(emulator: Emulator):
    codes = []
    for i in range(7):
        _, _, body = await _raw(
            emulator,
            "POST",
            "/open-apis/im/v1/messages?receive_id_type=open_id",
            json={"receive_id": "ou_qps", "msg_type": "text", "content": text_content(str(i))},
        )
        codes.append(body["code"])
    assert codes[:5] == [0] * 5 and 230020 in codes[5:]


async def test_cardkit_streaming_sequence_rule(emulator: Emulator, sdk: lark.Client):
    card = {
        "schema": "2.0",
        "config": {"streaming_mode": True, "update_multi": True},
        "body": {
            "elements": [
                {"tag": "markdown", "element_id": "answer", "content": ""},
                {"tag": "button", "element_id": "btn", "text": {"tag": "plain_text", "content": "Go"}},
            ]
        },
    }
    created = await call(
        sdk.cardkit.v1.card.create,
        CreateCardRequest.builder()
        .request_body(CreateCardRequestBody.builder().type("card_json").data(json.dumps(card)).build())
        .build(),
    )
    assert created.success(), created.msg
    card_id = created.data.card_id
    sent = await call(
        sdk.im.v1.message.create,
        _send("ou_carol", json.dumps({"type": "card", "data": {"card_id": card_id}}), "interactive"),
    )
    assert sent.success(), sent.msg

    def content(text: str, seq: int, element: str = "answer"):
        return (
            ContentCardElementRequest.builder()
            .card_id(card_id)
            .element_id(element)
            .request_body(
                ContentCardElementRequestBody.builder().uuid(f"c{seq}{element}").content(text).sequence(seq).build()
            )
            .build()
        )

    assert (await call(sdk.cardkit.v1.card_element.content, content("Hel", 1))).success()
    assert (await call(sdk.cardkit.v1.card_element.content, content("Hello", 2))).success()
    stale = await call(sdk.cardkit.v1.card_element.content, content("Hello!", 2, "answer"))
    assert stale.code == 0  # same uuid as an applied op: idempotent
    stale = await call(
        sdk.cardkit.v1.card_element.content,
        ContentCardElementRequest.builder()
        .card_id(card_id)
        .element_id("answer")
        .request_body(ContentCardElementRequestBody.builder().uuid("other").content("x").sequence(2).build())
        .build(),
    )
    assert stale.code == 300317
    not_text = await call(sdk.cardkit.v1.card_element.content, content("x", 3, "btn"))
    assert not_text.code != 0
    # the message shows the card's current state
    assert emulator.message(sent.data.message_id)["text"].startswith("Hello")
    settings = (
        SettingsCardRequest.builder()
        .card_id(card_id)
        .request_body(
            SettingsCardRequestBody.builder()
            .settings(json.dumps({"config": {"streaming_mode": False}}))
            .uuid("s1")
            .sequence(4)
            .build()
        )
        .build()
    )
    assert (await call(sdk.cardkit.v1.card.settings, settings)).success()
    closed = await call(sdk.cardkit.v1.card_element.content, content("late", 5))
    assert closed.code == 300309
    view = emulator.card_view(card_id)
    assert view["sequence"] == 4 and view["streaming_mode"] is False
    assert view["message_ids"] == [sent.data.message_id]


async def test_docx_blocks_pagination_and_rate_limit(emulator: Emulator, sdk: lark.Client):
    specs = [{"type": "heading1", "text": "Title"}] + [{"type": "text", "text": f"line {i}"} for i in range(24)]
    doc = emulator.create_doc("Handbook", specs)
    doc_id = doc["document_id"]
    got = await call(sdk.docx.v1.document.get, GetDocumentRequest.builder().document_id(doc_id).build())
    assert got.data.document.title == "Handbook" and got.data.document.revision_id == 1
    items, token, pages = [], None, 0
    while True:
        req = ListDocumentBlockRequest.builder().document_id(doc_id).page_size(10).document_revision_id(-1)
        if token:
            req = req.page_token(token)
        resp = await call(sdk.docx.v1.document_block.list, req.build())
        assert resp.success(), resp.msg
        pages += 1
        items += resp.data.items
        if not resp.data.has_more:
            break
        token = resp.data.page_token
    assert pages == 3 and len(items) == 26
    assert items[0].block_type == 1 and items[0].block_id == doc_id and items[0].children == doc["block_ids"]
    assert items[1].heading1.elements[0].text_run.content == "Title"
    assert [b.text.elements[0].text_run.content for b in items[2:]] == [f"line {i}" for i in range(24)]
    raw = await call(sdk.docx.v1.document.raw_content, RawContentDocumentRequest.builder().document_id(doc_id).build())
    assert raw.data.content.startswith("Handbook\nTitle\nline 0\n")
    # that was 5 docx calls within a second: the 6th is rate limited with Feishu's headers
    limited = await call(sdk.docx.v1.document.get, GetDocumentRequest.builder().document_id(doc_id).build())
    assert limited.code == 99991400
    headers = {k.lower(): v for k, v in limited.raw.headers.items()}
    assert limited.raw.status_code == 429 and headers["x-ogw-ratelimit-limit"] == "5"
    assert int(headers["x-ogw-ratelimit-reset"]) >= 1
    emulator.limiter.clear()
    missing = await call(sdk.docx.v1.document.get, GetDocumentRequest.builder().document_id("doxcnNope").build())
    assert missing.code == 1770002 and missing.raw.status_code == 404


async def test_wiki_nodes_and_drive_subscribe(emulator: Emulator, sdk: lark.Client):
    docs_ = [emulator.create_doc(f"Doc {i}", [{"type": "text", "text": str(i)}]) for i in range(3)]
    space = emulator.create_wiki_space("KB")["space_id"]
    nodes = [emulator.create_wiki_node(space, d["document_id"]) for d in docs_]
    child = emulator.create_wiki_node(
        space, docs_[0]["document_id"], title="child", parent_node_token=nodes[0]["node_token"]
    )
    got = await call(sdk.wiki.v2.space.get_node, GetNodeSpaceRequest.builder().token(nodes[1]["node_token"]).build())
    assert got.success(), got.msg
    node = got.data.node
    assert (node.obj_token, node.obj_type, node.title) == (docs_[1]["document_id"], "docx", "Doc 1")
    assert str(node.space_id) == space and node.has_child is False
    listed, token = [], None
    while True:
        req = ListSpaceNodeRequest.builder().space_id(space).page_size(2)
        if token:
            req = req.page_token(token)
        resp = await call(sdk.wiki.v2.space_node.list, req.build())
        listed += resp.data.items
        if not resp.data.has_more:
            break
        token = resp.data.page_token
    assert [n.node_token for n in listed] == [n["node_token"] for n in nodes]
    assert listed[0].has_child is True
    children = await call(
        sdk.wiki.v2.space_node.list,
        ListSpaceNodeRequest.builder().space_id(space).parent_node_token(nodes[0]["node_token"]).build(),
    )
    assert [n.node_token for n in children.data.items] == [child["node_token"]]
    missing = await call(sdk.wiki.v2.space.get_node, GetNodeSpaceRequest.builder().token("wikcnNope").build())
    assert missing.code == 131005

    doc_id = docs_[0]["document_id"]
    sub = await call(
        sdk.drive.v1.file.subscribe, SubscribeFileRequest.builder().file_token(doc_id).file_type("docx").build()
    )
    assert sub.success(), sub.msg
    state = await call(
        sdk.drive.v1.file.get_subscribe, GetSubscribeFileRequest.builder().file_token(doc_id).file_type("docx").build()
    )
    assert state.data.is_subscribe is True
    await call(
        sdk.drive.v1.file.delete_subscribe,
        DeleteSubscribeFileRequest.builder().file_token(doc_id).file_type("docx").build(),
    )
    state = await call(
        sdk.drive.v1.file.get_subscribe, GetSubscribeFileRequest.builder().file_token(doc_id).file_type("docx").build()
    )
    assert state.data.is_subscribe is False


async def test_faults_and_request_log(emulator: Emulator, sdk: lark.Client):
    emulator.add_fault("/open-apis/im/v1/messages", "rate_limit", count=1, reset_s=7, method="POST")
    limited = await call(sdk.im.v1.message.create, _send("ou_dan", text_content("x")))
    assert limited.code == 99991400 and limited.raw.status_code == 429
    assert {k.lower(): v for k, v in limited.raw.headers.items()}["x-ogw-ratelimit-reset"] == "7"
    assert (await call(sdk.im.v1.message.create, _send("ou_dan", text_content("x")))).success()
    emulator.add_fault("/open-apis/im/", "server_error", count=1)
    failed = await call(sdk.im.v1.message.create, _send("ou_dan", text_content("y")))
    assert failed.raw.status_code == 500 and failed.code != 0
    log = emulator.requests("/open-apis/im/v1/messages", method="POST")
    assert [r["status"] for r in log] == [429, 200, 500]
    assert log[1]["body"]["receive_id"] == "ou_dan" and log[1]["query"] == {"receive_id_type": "open_id"}
    assert log[1]["code"] == 0


async def test_restarted_emulator_accepts_cached_token(emulator: Emulator, sdk: lark.Client):
    assert (await call(sdk.im.v1.message.create, _send("ou_eve", text_content("1")))).success()
    second = Emulator(EmulatorConfig())
    await second.start()
    try:
        sdk2 = (
            lark.Client.builder()
            .app_id(second.config.app_id)
            .app_secret(second.config.app_secret)
            .domain(second.base_url)
            .log_level(lark.LogLevel.ERROR)
            .build()
        )
        resp = await call(sdk2.im.v1.message.create, _send("ou_eve", text_content("2")))
        assert resp.success(), resp.msg
        assert second.requests("/open-apis/auth/") == []  # the SDK reused its cached token
    finally:
        await second.stop()
