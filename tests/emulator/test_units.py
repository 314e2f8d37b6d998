"""Unit tests of the emulator's pure parts: crypto, tokens, docx model, card and content checks, limits."""

from __future__ import annotations

import hashlib
import json

import pytest
from lark_oapi.core.utils.decryptor import AESCipher

from emulator import cards, crypto, docs
from emulator.content import check_content
from emulator.faults import Fault, FaultSet, RateLimiter
from emulator.httputil import FeishuError

pytestmark = pytest.mark.unit


def test_encrypt_is_what_the_sdk_decrypts():
    enc = crypto.encrypt('{"hello":"世界"}', "my-key")
    assert AESCipher("my-key").decrypt_str(enc) == '{"hello":"世界"}'
    assert crypto.decrypt(enc, "my-key") == '{"hello":"世界"}'
    assert crypto.encrypt("x", "my-key") != crypto.encrypt("x", "my-key")  # random iv
    with pytest.raises(ValueError):
        AESCipher("other-key").decrypt_str(enc)


def test_signature_formula():
    body = b'{"encrypt":"abc"}'
    expected = hashlib.sha256(b"1700000000" + b"nonce" + b"key" + body).hexdigest()
    assert crypto.signature("1700000000", "nonce", "key", body) == expected


def test_tenant_token_is_stateless_and_checked():
    tok = crypto.issue_tenant_token("cli_a", "secret", now=1_700_000_000)
    assert tok.startswith("t-") and len(tok) == 42
    assert crypto.verify_tenant_token(tok, "cli_a", "secret", 7200, now=1_700_000_100)
    assert not crypto.verify_tenant_token(tok, "cli_a", "other", 7200, now=1_700_000_100)
    assert not crypto.verify_tenant_token(tok, "cli_b", "secret", 7200, now=1_700_000_100)
    assert not crypto.verify_tenant_token(tok, "cli_a", "secret", 7200, now=1_700_007_300)  # expired
    tampered = tok[:-1] + ("0" if tok[-1] != "0" else "1")
    assert not crypto.verify_tenant_token(tampered, "cli_a", "secret", 7200, now=1_700_000_100)
    assert not crypto.verify_tenant_token("t-garbage", "cli_a", "secret", 7200)


def test_docx_model_block_tree_and_text():
    doc = docs.new_document(
        "Guide",
        [
            {"type": "heading1", "text": "Install"},
            {"type": "text", "text": "Run pip."},
            {"type": "bullet", "text": "one", "children": [{"type": "bullet", "text": "nested"}]},
            {"type": "code", "text": "pip install x", "language": "bash"},
            {"type": "table", "rows": [["k", "v"], ["a", "1"]]},
            {"type": "todo", "text": "check", "done": True},
        ],
    )
    ordered = docs.ordered_blocks(doc.blocks, doc.document_id)
    root = ordered[0]
    assert root["block_type"] == 1 and root["parent_id"] == "" and root["block_id"] == doc.document_id
    assert root["page"]["elements"][0]["text_run"]["content"] == "Guide"
    types = [b["block_type"] for b in ordered]
    assert types == [1, 3, 2, 12, 12, 14, 31, 32, 2, 32, 2, 32, 2, 32, 2, 17]
    heading = ordered[1]
    assert heading["heading1"]["elements"][0]["text_run"]["content"] == "Install"
    assert heading["parent_id"] == doc.document_id
    nested = ordered[4]
    assert nested["parent_id"] == ordered[3]["block_id"] and ordered[3]["children"] == [nested["block_id"]]
    assert ordered[5]["code"]["style"]["language"] == 7
    table = ordered[6]
    assert table["table"]["property"]["row_size"] == 2 and table["table"]["property"]["column_size"] == 2
    assert table["children"] == table["table"]["cells"]
    assert ordered[-1]["todo"]["style"]["done"] is True
    assert docs.raw_content(doc) == "Guide\nInstall\nRun pip.\none\nnested\npip install x\nk\nv\na\n1\ncheck\n"


def test_docx_edits_bump_revision_and_keep_history():
    doc = docs.new_document("T", [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    a, b = doc.blocks[doc.document_id]["children"]
    change = docs.apply_edits(
        doc,
        [
            {"op": "update_text", "block_id": a, "text": "A"},
            {"op": "insert", "after": a, "blocks": [{"type": "heading2", "text": "mid"}]},
            {"op": "delete", "block_ids": [b]},
            {"op": "set_title", "title": "T2"},
        ],
    )
    assert change["revision_id"] == 2 and change["title_changed"] and len(change["inserted"]) == 1
    assert docs.raw_content(doc) == "T2\nA\nmid\n"
    assert b not in doc.blocks
    assert docs.block_text(doc.revisions[1][1][b]) == "b"  # revision 1 kept
    with pytest.raises(docs.DocSpecError):
        docs.apply_edits(doc, [{"op": "delete", "block_ids": ["nope"]}])
    assert doc.revision_id == 2  # failed edit changed nothing


def test_card_validation():
    good = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "element_id": "answer", "content": "x"}]}}
    cards.validate_card(good)
    with pytest.raises(cards.CardError, match="duplicate"):
        cards.validate_card(
            {
                "schema": "2.0",
                "body": {"elements": [{"tag": "markdown", "element_id": "a"}, {"tag": "markdown", "element_id": "a"}]},
            }
        )
    with pytest.raises(cards.CardError, match="invalid element_id"):
        cards.validate_card({"schema": "2.0", "body": {"elements": [{"tag": "markdown", "element_id": "1bad"}]}})
    with pytest.raises(cards.CardError, match="too many"):
        cards.validate_card({"elements": [{"tag": "div"} for _ in range(201)]})
    v1 = {"elements": [{"tag": "action", "actions": [{"tag": "button", "value": {"k": "v"}}]}]}
    assert [v for _, v in cards.callback_values(v1)] == [{"k": "v"}]
    v2 = {
        "schema": "2.0",
        "body": {"elements": [{"tag": "button", "behaviors": [{"type": "callback", "value": {"action": "claim"}}]}]},
    }
    assert [v for _, v in cards.callback_values(v2)] == [{"action": "claim"}]


def test_content_checks():
    assert check_content("text", json.dumps({"text": "hi"}), {})[0] == {"text": "hi"}
    with pytest.raises(FeishuError) as err:
        check_content("text", json.dumps({"text": "x" * (150 * 1024)}), {})
    assert err.value.code == 230025
    with pytest.raises(FeishuError) as err:
        check_content("interactive", json.dumps({"elements": [{"tag": "div", "text": "y" * 31000}]}), {})
    assert err.value.code == 230025
    with pytest.raises(FeishuError) as err:
        check_content("interactive", json.dumps({"type": "card", "data": {"card_id": "123"}}), {})
    assert err.value.code == 230099
    assert (
        check_content("interactive", json.dumps({"type": "card", "data": {"card_id": "123"}}), {"123": object()})[1]
        == "123"
    )
    with pytest.raises(FeishuError) as err:
        check_content("text", "not json", {})
    assert err.value.code == 230001
    with pytest.raises(FeishuError):
        check_content("post", json.dumps({"zh_cn": {"content": ["not a paragraph"]}}), {})
    check_content("post", json.dumps({"zh_cn": {"title": "t", "content": [[{"tag": "text", "text": "a"}]]}}), {})


def test_rate_limiter_and_faults():
    rl = RateLimiter()
    assert all(rl.hit("k", 5, now=10.0 + i * 0.01) is None for i in range(5))
    wait = rl.hit("k", 5, now=10.1)
    assert wait is not None and 0.85 < wait <= 0.9 + 1e-9
    assert rl.hit("k", 5, now=11.05) is None  # the window slid
    fs = FaultSet()
    fs.add(Fault("/open-apis/im/", "server_error", count=2, method="POST"))
    assert fs.take("GET", "/open-apis/im/v1/messages/x") is None
    assert fs.take("POST", "/open-apis/im/v1/messages") is not None
    assert fs.take("POST", "/open-apis/im/v1/messages") is not None
    assert fs.take("POST", "/open-apis/im/v1/messages") is None
    with pytest.raises(ValueError):
        fs.add(Fault("/", "explode"))
