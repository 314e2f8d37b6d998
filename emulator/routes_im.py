"""im/v1 messages, chat members and the delayed card update."""

from __future__ import annotations

import base64
import json
import time

from aiohttp import web

from emulator import cards, ids
from emulator.content import check_content
from emulator.httputil import FeishuError, invalid_param, json_body, ok, require_str
from emulator.keys import SERVICE
from emulator.service import EmulatorService
from emulator.state import Chat, Message
from emulator.views import api_message

routes = web.RouteTableDef()

RECEIVE_ID_TYPES = {"open_id", "user_id", "union_id", "email", "chat_id"}
EDIT_WINDOW_S = 14 * 24 * 3600


def _freq_limit() -> FeishuError:
    return FeishuError(230020, "This operation triggers the frequency limit, please try again later.", 400)


def _not_found(message_id: str) -> FeishuError:
    return FeishuError(
        230001, f"Your request contains an invalid request parameter, ext=message_id {message_id} not found", 400
    )


def _uuid_seen(svc: EmulatorService, uuid: str | None) -> Message | None:
    if uuid is None:
        return None
    if not isinstance(uuid, str) or len(uuid) > 50:
        raise invalid_param("uuid must be a string of at most 50 characters")
    hit = svc.state.uuids.get(uuid)
    if hit and time.time() - hit[1] < svc.config.uuid_ttl_s:
        return svc.state.messages.get(hit[0])
    return None


def _resolve_chat(svc: EmulatorService, id_type: str, receive_id: str) -> Chat:
    state = svc.state
    if id_type == "chat_id":
        chat = state.chats.get(receive_id)
        if chat is None:
            raise FeishuError(230002, "Bot/User can NOT be out of the chat.", 400)
        return chat
    user = state.find_user(id_type, receive_id)
    if user is None:
        raise FeishuError(230013, f"Bot has NO availability to this user ({id_type} {receive_id}).", 400)
    return state.p2p_chat(user.open_id)


def _rate(svc: EmulatorService, key: str) -> None:
    if svc.limiter.hit(key, svc.config.chat_qps) is not None:
        raise _freq_limit()


def _store(
    svc: EmulatorService, chat: Chat, msg_type: str, content: str, card_id: str | None, uuid: str | None, **thread
) -> Message:
    now = ids.now_ms()
    msg = Message(
        message_id=ids.message_id(),
        chat_id=chat.chat_id,
        msg_type=msg_type,
        content=content,
        sender_type="app",
        sender_id=svc.config.app_id,
        create_time=now,
        update_time=now,
        uuid=uuid,
        card_id=card_id,
        **thread,
    )
    svc.state.add_message(msg)
    if uuid:
        svc.state.uuids[uuid] = (msg.message_id, time.time())
    svc.notify_message(msg)
    return msg


@routes.post("/open-apis/im/v1/messages")
async def create_message(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    id_type = request.query.get("receive_id_type", "")
    if id_type not in RECEIVE_ID_TYPES:
        raise invalid_param(f"receive_id_type must be one of {sorted(RECEIVE_ID_TYPES)}")
    body = await json_body(request)
    receive_id = require_str(body, "receive_id")
    msg_type = require_str(body, "msg_type")
    content = body.get("content")
    uuid = body.get("uuid")
    first = _uuid_seen(svc, uuid)
    if first is not None:
        return ok(api_message(svc.state, first, svc.config.tenant_key))
    chat = _resolve_chat(svc, id_type, receive_id)
    _, card_id = check_content(msg_type, content, svc.state.cards)
    _rate(svc, f"chat:{chat.chat_id}")
    msg = _store(svc, chat, msg_type, content, card_id, uuid)
    return ok(api_message(svc.state, msg, svc.config.tenant_key))


@routes.post("/open-apis/im/v1/messages/{message_id}/reply")
async def reply_message(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    parent = svc.state.messages.get(request.match_info["message_id"])
    body = await json_body(request)
    msg_type = require_str(body, "msg_type")
    content = body.get("content")
    uuid = body.get("uuid")
    in_thread = body.get("reply_in_thread", False)
    if not isinstance(in_thread, bool):
        raise invalid_param("reply_in_thread must be a boolean")
    first = _uuid_seen(svc, uuid)
    if first is not None:
        return ok(api_message(svc.state, first, svc.config.tenant_key))
    if parent is None:
        raise _not_found(request.match_info["message_id"])
    if parent.deleted:
        raise FeishuError(230011, "The message was withdrawn.", 400)
    chat = svc.state.chats[parent.chat_id]
    _, card_id = check_content(msg_type, content, svc.state.cards)
    _rate(svc, f"chat:{chat.chat_id}")
    root_id = parent.root_id or parent.message_id
    thread_id = parent.thread_id
    if in_thread and thread_id is None:
        thread_id = ids.thread_id()
        root = svc.state.messages.get(root_id)
        if root is not None and root.thread_id is None:
            root.thread_id = thread_id
            svc.notify_message(root)
    msg = _store(
        svc, chat, msg_type, content, card_id, uuid, root_id=root_id, parent_id=parent.message_id, thread_id=thread_id
    )
    return ok(api_message(svc.state, msg, svc.config.tenant_key))


def _shared(card: dict) -> bool:
    """update_multi: 1.0 cards default to false, 2.0 cards to true."""
    config = card.get("config") if isinstance(card.get("config"), dict) else {}
    return bool(config.get("update_multi", cards.is_v2(card)))


@routes.patch("/open-apis/im/v1/messages/{message_id}")
async def patch_message(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    message_id = request.match_info["message_id"]
    msg = svc.state.messages.get(message_id)
    body = await json_body(request)
    content = body.get("content")
    if not isinstance(content, str):
        raise invalid_param("content is required (card JSON string)")
    if msg is None:
        raise _not_found(message_id)
    if msg.deleted:
        raise FeishuError(230011, "The message was withdrawn.", 400)
    if msg.sender_type != "app" or msg.sender_id != svc.config.app_id:
        raise FeishuError(230012, "Bot is NOT the sender of the message.", 400)
    if msg.msg_type != "interactive":
        raise FeishuError(
            230001,
            "Your request contains an invalid request parameter, ext=only interactive (card) messages can be updated",
            400,
        )
    if time.time() * 1000 - msg.create_time > EDIT_WINDOW_S * 1000:
        raise FeishuError(230031, "The message has exceeded the editable time (14 days).", 400)
    old = json.loads(svc.state.message_content(msg))
    parsed, card_id = check_content("interactive", content, svc.state.cards)
    new = svc.state.cards[card_id].card if card_id else parsed
    for label, card in (("sent", old), ("new", new)):
        if card.get("type") != "template" and not _shared(card):
            raise FeishuError(
                230001,
                f"Your request contains an invalid request parameter, ext=the {label} "
                "card is not shared: set config.update_multi to true",
                400,
            )
    if svc.limiter.hit(f"patch:{message_id}", svc.config.chat_qps) is not None:
        raise _freq_limit()
    msg.content = content
    msg.card_id = card_id
    msg.updated = True
    msg.update_time = ids.now_ms()
    svc.notify_message(msg)
    return ok({}, msg="success")


@routes.get("/open-apis/im/v1/messages/{message_id}")
async def get_message(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    msg = svc.state.messages.get(request.match_info["message_id"])
    if msg is None:
        raise _not_found(request.match_info["message_id"])
    return ok({"items": [api_message(svc.state, msg, svc.config.tenant_key)]})


@routes.post("/open-apis/interactive/v1/card/update")
async def delayed_card_update(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    body = await json_body(request)
    token = require_str(body, "token")
    card = body.get("card")
    if not isinstance(card, dict):
        raise invalid_param("card is required (object)")
    entry = svc.state.callback_tokens.get(token)
    if entry is None or time.time() - entry.issued_at > svc.config.callback_token_ttl_s:
        raise FeishuError(300030, "token is expired or invalid", 400)
    if entry.uses >= svc.config.callback_token_uses:
        raise FeishuError(300040, "token usage count exceeded", 400)
    msg = svc.state.messages.get(entry.message_id)
    if msg is None:
        raise FeishuError(300030, "token is expired or invalid", 400)
    original = json.loads(svc.state.message_content(msg))
    try:
        svc.apply_card_response(msg, card, original=original)
    except cards.CardError as exc:
        raise FeishuError(230099, f"Failed to create card content, ext=ErrMsg: {exc};", 400) from exc
    entry.uses += 1
    return ok({}, msg="ok")


MEMBER_ID_TYPES = {"open_id", "user_id", "union_id"}
MEMBERS_MAX_PAGE = 100


@routes.get("/open-apis/im/v1/chats/{chat_id}/members")
async def chat_members(request: web.Request) -> web.Response:
    """Users of a chat, sorted by open_id; bots are never listed (as on Feishu).

    An unknown chat answers 232006 (Feishu's "invalid chat_id"); the page token is the last open_id
    returned, so a member leaving between pages neither shifts nor repeats the others.
    """
    svc = request.app[SERVICE]
    id_type = request.query.get("member_id_type") or "open_id"
    if id_type not in MEMBER_ID_TYPES:
        raise invalid_param(f"member_id_type must be one of {sorted(MEMBER_ID_TYPES)}")
    try:
        size = int(request.query.get("page_size") or 20)
    except ValueError as exc:
        raise invalid_param("page_size must be an integer") from exc
    if not 1 <= size <= MEMBERS_MAX_PAGE:
        raise invalid_param(f"page_size must be 1..{MEMBERS_MAX_PAGE}")
    chat = svc.state.chats.get(request.match_info["chat_id"])
    if chat is None:
        raise FeishuError(232006, "Your request specifies a chat_id which is invalid.", 400)
    users = sorted(m for m in chat.members if m != svc.config.bot_open_id and m.startswith("ou_"))
    token = request.query.get("page_token", "")
    start = 0
    if token:
        after = _decode_token(token)
        start = next((i for i, m in enumerate(users) if m > after), len(users))
    page = users[start : start + size]
    has_more = start + size < len(users)
    items = []
    for open_id in page:
        user = svc.state.user(open_id)
        items.append(
            {
                "member_id_type": id_type,
                "member_id": getattr(user, id_type),
                "name": user.name,
                "tenant_key": svc.config.tenant_key,
            }
        )
    next_token = _encode_token(page[-1]) if has_more else ""
    return ok({"items": items, "page_token": next_token, "has_more": has_more, "member_total": len(users)})


def _encode_token(open_id: str) -> str:
    return base64.urlsafe_b64encode(open_id.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        open_id = base64.urlsafe_b64decode(token.encode()).decode()
    except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise invalid_param("page_token is invalid") from exc
    if not open_id.startswith("ou_"):
        raise invalid_param("page_token is invalid")
    return open_id
