"""The chat members API (GET /open-apis/im/v1/chats/:chat_id/members) and the member control routes."""

from __future__ import annotations

import aiohttp
import lark_oapi as lark
import pytest
from lark_oapi.api.im.v1 import GetChatMembersRequest

from emulator import Emulator
from emulator.service import EmulatorError
from tests.emulator.conftest import call

pytestmark = pytest.mark.integration


def _members(chat_id: str, page_size: int | None = None, page_token: str | None = None, id_type: str = "open_id"):
    req = GetChatMembersRequest.builder().chat_id(chat_id).member_id_type(id_type)
    if page_size is not None:
        req = req.page_size(page_size)
    if page_token:
        req = req.page_token(page_token)
    return req.build()


async def test_members_with_names_through_the_sdk(emulator: Emulator, sdk: lark.Client):
    chat = emulator.create_group(
        name="客户群",
        members=["ou_alice", "ou_bob", emulator.config.bot_open_id],
        names={"ou_alice": "Alice", "ou_bob": "Bob"},
    )
    resp = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"]))
    assert resp.success(), resp.msg
    assert [(m.member_id_type, m.member_id, m.name) for m in resp.data.items] == [
        ("open_id", "ou_alice", "Alice"),
        ("open_id", "ou_bob", "Bob"),
    ]  # the bot is not listed
    assert resp.data.items[0].tenant_key == emulator.config.tenant_key
    assert resp.data.member_total == 2 and resp.data.has_more is False and not resp.data.page_token

    by_user_id = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"], id_type="user_id"))
    assert by_user_id.data.items[0].member_id == emulator.state.user("ou_alice").user_id


async def test_pagination_default_and_limits(emulator: Emulator, sdk: lark.Client):
    open_ids = [f"ou_m{i:03d}" for i in range(45)]
    chat = emulator.create_group(name="big", members=open_ids)
    first = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"]))
    assert len(first.data.items) == 20 and first.data.has_more and first.data.page_token  # default page_size 20
    seen: list[str] = []
    token = None
    while True:
        page = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"], 7, token))
        assert page.success(), page.msg
        assert page.data.member_total == 45
        seen += [m.member_id for m in page.data.items]
        if not page.data.has_more:
            break
        token = page.data.page_token
    assert seen == open_ids

    # a member leaving between pages neither repeats nor skips the others
    page1 = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"], 10))
    emulator.remove_chat_member(chat["chat_id"], "ou_m003")
    page2 = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"], 10, page1.data.page_token))
    assert [m.member_id for m in page2.data.items] == open_ids[10:20]

    for bad in (0, 101):
        resp = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"], bad))
        assert resp.code == 99992402
    full = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"], 100))
    assert len(full.data.items) == 44 and not full.data.has_more
    bad_token = await call(sdk.im.v1.chat_members.get, _members(chat["chat_id"], 10, "garbage!"))
    assert bad_token.code == 99992402


async def test_unknown_chat_and_users_known_by_messages(emulator: Emulator, sdk: lark.Client):
    missing = await call(sdk.im.v1.chat_members.get, _members("oc_nope"))
    assert missing.code == 232006 and "chat_id" in missing.msg

    # a user who posts in a group (with a name) shows up with it; the bot, added as a member, does not
    out = await emulator.send_user_message("ou_carol", "hi", chat_type="group", mention_bot=True, user_name="Carol")
    resp = await call(sdk.im.v1.chat_members.get, _members(out["chat_id"]))
    assert [(m.member_id, m.name) for m in resp.data.items] == [("ou_carol", "Carol")]


async def test_add_and_remove_members_in_process(emulator: Emulator):
    chat = emulator.create_group(name="g", members=["ou_a"])
    view = emulator.add_chat_members(chat["chat_id"], ["ou_b", "ou_c"], names=["Bea", "Cy"])
    assert view["members"] == ["ou_a", "ou_b", "ou_c"]
    assert view["member_names"]["ou_b"] == "Bea" and view["member_names"]["ou_c"] == "Cy"
    view = emulator.add_chat_members(chat["chat_id"], ["ou_a"], names={"ou_a": "Ann"})
    assert view["member_names"]["ou_a"] == "Ann"  # renaming an existing member
    assert emulator.remove_chat_member(chat["chat_id"], "ou_b")["members"] == ["ou_a", "ou_c"]

    with pytest.raises(EmulatorError) as info:
        emulator.remove_chat_member(chat["chat_id"], "ou_b")
    assert info.value.status == 404
    with pytest.raises(EmulatorError):
        emulator.add_chat_members("oc_nope", ["ou_x"])
    with pytest.raises(EmulatorError):
        emulator.add_chat_members(chat["chat_id"], ["ou_x"], names=["a", "b"])
    with pytest.raises(EmulatorError):
        emulator.add_chat_members(chat["chat_id"], ["not-an-open-id"])
    p2p = emulator.state.p2p_chat("ou_p")
    with pytest.raises(EmulatorError):
        emulator.add_chat_members(p2p.chat_id, ["ou_x"])


async def test_member_control_routes(emulator: Emulator, sdk: lark.Client):
    base = emulator.base_url + "/_emulator"
    async with aiohttp.ClientSession() as s:
        async with s.post(base + "/chats", json={"name": "g", "members": ["ou_a"], "names": {"ou_a": "Ann"}}) as r:
            chat_id = (await r.json())["chat_id"]
        body = {"open_ids": ["ou_b"], "names": {"ou_b": "Ben"}}
        async with s.post(base + f"/chats/{chat_id}/members", json=body) as r:
            assert r.status == 200 and (await r.json())["members"] == ["ou_a", "ou_b"]
        async with s.delete(base + f"/chats/{chat_id}/members/ou_a") as r:
            assert r.status == 200 and (await r.json())["members"] == ["ou_b"]
        async with s.delete(base + f"/chats/{chat_id}/members/ou_a") as r:
            assert r.status == 404 and "not a member" in (await r.json())["error"]
        async with s.post(base + "/chats/oc_nope/members", json={"open_ids": ["ou_b"]}) as r:
            assert r.status == 404
        async with s.post(base + f"/chats/{chat_id}/members", json={}) as r:
            assert r.status == 400 and "open_ids" in (await r.json())["error"]
    resp = await call(sdk.im.v1.chat_members.get, _members(chat_id))
    assert [(m.member_id, m.name) for m in resp.data.items] == [("ou_b", "Ben")]
