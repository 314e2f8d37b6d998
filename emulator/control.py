"""The control API under /_emulator/ (JSON), a thin layer over EmulatorService."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.httputil import control_json, parse_json_object
from emulator.keys import SERVICE
from emulator.service import EmulatorError, EmulatorService

routes = web.RouteTableDef()
P = "/_emulator"


def _svc(request: web.Request) -> EmulatorService:
    return request.app[SERVICE]


async def _body(request: web.Request) -> dict:
    return parse_json_object(await request.read(), EmulatorError)


def _pick(body: dict, *keys: str) -> dict[str, Any]:
    return {k: body[k] for k in keys if k in body}


def _need(body: dict, key: str) -> Any:
    if key not in body:
        raise EmulatorError(f"{key} is required")
    return body[key]


@routes.get(P + "/health")
async def health(request: web.Request) -> web.Response:
    return control_json({"ok": True})


@routes.get(P + "/config")
async def config(request: web.Request) -> web.Response:
    c = _svc(request).config
    return control_json(
        {
            "app_id": c.app_id,
            "bot_open_id": c.bot_open_id,
            "bot_name": c.bot_name,
            "tenant_key": c.tenant_key,
            "encrypted": bool(c.encrypt_key),
            **_svc(request).delivery_settings(),
        }
    )


@routes.post(P + "/reset")
async def reset(request: web.Request) -> web.Response:
    await _svc(request).reset()
    return control_json({"ok": True})


@routes.post(P + "/users/messages")
async def user_message(request: web.Request) -> web.Response:
    body = await _body(request)
    out = await _svc(request).send_user_message(
        _need(body, "open_id"),
        body.get("text"),
        **_pick(
            body,
            "chat_type",
            "chat_id",
            "mention_bot",
            "root_id",
            "parent_id",
            "message_type",
            "content",
            "mentions",
            "user_name",
            "wait",
        ),
    )
    return control_json(out)


@routes.post(P + "/users/enter_p2p")
async def enter_p2p(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        await _svc(request).enter_p2p_chat(_need(body, "open_id"), **_pick(body, "user_name", "wait"))
    )


@routes.post(P + "/users/menu")
async def menu(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        await _svc(request).send_menu_event(_need(body, "open_id"), _need(body, "event_key"), **_pick(body, "wait"))
    )


@routes.post(P + "/cards/click")
async def click(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        await _svc(request).click_card(
            _need(body, "message_id"),
            _need(body, "open_id"),
            body.get("value"),
            **_pick(body, "form_value", "tag", "name", "strict", "option", "options"),
        )
    )


@routes.get(P + "/cards/{card_id}")
async def card(request: web.Request) -> web.Response:
    return control_json(_svc(request).card_view(request.match_info["card_id"]))


@routes.post(P + "/events")
async def event(request: web.Request) -> web.Response:
    body = await _body(request)
    svc = _svc(request)
    if "events" in body:
        return control_json(await svc.send_events(body["events"], **_pick(body, "wait")))
    if "raw" in body:
        return control_json(await svc.send_raw(body["raw"], **_pick(body, "wait")))
    event_body = body.get("event", {})
    if not isinstance(event_body, dict):
        raise EmulatorError("event must be an object")
    return control_json(await svc.send_event(_need(body, "event_type"), event_body, **_pick(body, "header", "wait")))


@routes.post(P + "/url_verification")
async def url_verification(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(await _svc(request).url_verification(body.get("challenge")))


@routes.get(P + "/chats")
async def chats(request: web.Request) -> web.Response:
    return control_json({"items": _svc(request).chats()})


@routes.post(P + "/chats")
async def create_chat(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(_svc(request).create_group(**_pick(body, "chat_id", "name", "members", "names")))


@routes.post(P + "/chats/{chat_id}/members")
async def add_chat_members(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        _svc(request).add_chat_members(request.match_info["chat_id"], _need(body, "open_ids"), body.get("names"))
    )


@routes.delete(P + "/chats/{chat_id}/members/{open_id}")
async def remove_chat_member(request: web.Request) -> web.Response:
    return control_json(_svc(request).remove_chat_member(request.match_info["chat_id"], request.match_info["open_id"]))


@routes.get(P + "/chats/{chat_id}/messages")
async def chat_messages(request: web.Request) -> web.Response:
    return control_json({"items": _svc(request).chat_messages(request.match_info["chat_id"])})


@routes.get(P + "/messages/{message_id}")
async def message(request: web.Request) -> web.Response:
    return control_json(_svc(request).message(request.match_info["message_id"]))


@routes.get(P + "/requests")
async def requests_(request: web.Request) -> web.Response:
    q = request.query
    return control_json({"items": _svc(request).requests(q.get("path_prefix", ""), q.get("method"))})


@routes.get(P + "/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    q = request.query
    return control_json({"items": _svc(request).deliveries(q.get("event_type"), q.get("kind"))})


@routes.post(P + "/wait_idle")
async def wait_idle(request: web.Request) -> web.Response:
    body = await _body(request)
    try:
        await _svc(request).wait_idle(float(body.get("timeout_s", 10.0)))
    except TimeoutError as exc:
        raise EmulatorError("deliveries still pending", 504) from exc
    return control_json({"ok": True})


@routes.post(P + "/docs")
async def create_doc(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        _svc(request).create_doc(_need(body, "title"), body.get("blocks", []), **_pick(body, "owner_open_id"))
    )


@routes.post(P + "/docs/{document_id}/edit")
async def edit_doc(request: web.Request) -> web.Response:
    body = await _body(request)
    ops = list(body.get("ops", []))
    if "title" in body:
        ops.append({"op": "set_title", "title": body["title"]})
    return control_json(
        await _svc(request).edit_doc(request.match_info["document_id"], ops, **_pick(body, "operator_open_id", "wait"))
    )


@routes.post(P + "/docs/{document_id}/trash")
async def trash_doc(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        await _svc(request).trash_doc(request.match_info["document_id"], **_pick(body, "operator_open_id", "wait"))
    )


@routes.delete(P + "/docs/{document_id}")
async def delete_doc(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        await _svc(request).delete_doc(request.match_info["document_id"], **_pick(body, "operator_open_id", "wait"))
    )


@routes.post(P + "/wiki/spaces")
async def wiki_space(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(_svc(request).create_wiki_space(_need(body, "name"), **_pick(body, "space_id")))


@routes.post(P + "/wiki/spaces/{space_id}/nodes")
async def wiki_node(request: web.Request) -> web.Response:
    body = await _body(request)
    obj_token = body.get("obj_token") or _need(body, "document_id")
    return control_json(
        _svc(request).create_wiki_node(
            request.match_info["space_id"], obj_token, **_pick(body, "title", "parent_node_token", "obj_type")
        )
    )


@routes.get(P + "/faults")
async def list_faults(request: web.Request) -> web.Response:
    return control_json({"items": [f.to_dict() for f in _svc(request).faults.faults]})


@routes.post(P + "/faults")
async def add_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        _svc(request).add_fault(
            _need(body, "path_prefix"),
            _need(body, "kind"),
            **_pick(body, "count", "method", "reset_s", "delay_s", "status"),
        )
    )


@routes.delete(P + "/faults")
async def clear_faults(request: web.Request) -> web.Response:
    _svc(request).clear_faults()
    return control_json({"ok": True})


@routes.get(P + "/delivery")
async def get_delivery(request: web.Request) -> web.Response:
    return control_json(_svc(request).delivery_settings())


@routes.post(P + "/delivery")
async def set_delivery(request: web.Request) -> web.Response:
    body = await _body(request)
    return control_json(
        _svc(request).set_delivery(
            **_pick(
                body,
                "duplicates",
                "duplicate_new_event_id",
                "reorder",
                "delay_s",
                "retry_time_scale",
                "event_callback_url",
                "card_callback_url",
                "concurrency",
                "event_transport",
            )
        )
    )


@routes.get(P + "/longconn")
async def longconn(request: web.Request) -> web.Response:
    return control_json(_svc(request).longconn.view())
