"""wiki v2 (nodes) and drive v1 (file subscriptions)."""

from __future__ import annotations

from aiohttp import web

from emulator.httputil import FeishuError, invalid_param, ok
from emulator.keys import SERVICE
from emulator.state import EmulatorState, WikiNode

routes = web.RouteTableDef()
WIKI_MAX_PAGE = 50
FILE_TYPES = {"doc", "docx", "sheet", "bitable", "file", "folder", "slides"}


def _wiki_not_found() -> FeishuError:
    return FeishuError(131005, "not found", 404)


def _node_view(state: EmulatorState, node: WikiNode) -> dict:
    doc = state.documents.get(node.obj_token)
    edited = doc.edited_at if doc else node.created_at
    created = doc.created_at if doc else node.created_at
    return {
        "space_id": node.space_id,
        "node_token": node.node_token,
        "obj_token": node.obj_token,
        "obj_type": node.obj_type,
        "parent_node_token": node.parent_node_token,
        "node_type": node.node_type,
        "origin_node_token": node.node_token,
        "origin_space_id": node.space_id,
        "has_child": any(n.parent_node_token == node.node_token for n in state.wiki_nodes.values()),
        "title": doc.title if doc else node.title,
        "obj_create_time": str(created),
        "obj_edit_time": str(edited),
        "node_create_time": str(node.created_at),
        "creator": "ou_wiki_owner",
        "owner": "ou_wiki_owner",
        "node_creator": "ou_wiki_owner",
    }


@routes.get("/open-apis/wiki/v2/spaces/get_node")
async def get_node(request: web.Request) -> web.Response:
    state = request.app[SERVICE].state
    token = request.query.get("token", "")
    if not token:
        raise invalid_param("token is required")
    obj_type = request.query.get("obj_type", "wiki")
    if obj_type == "wiki":
        node = state.wiki_nodes.get(token)
    else:
        node = next((n for n in state.wiki_nodes.values() if n.obj_token == token and n.obj_type == obj_type), None)
    if node is None:
        raise _wiki_not_found()
    return ok({"node": _node_view(state, node)})


@routes.get("/open-apis/wiki/v2/spaces/{space_id}/nodes")
async def list_nodes(request: web.Request) -> web.Response:
    state = request.app[SERVICE].state
    space_id = request.match_info["space_id"]
    if space_id not in state.wiki_spaces:
        raise _wiki_not_found()
    try:
        size = int(request.query.get("page_size") or 20)
    except ValueError as exc:
        raise invalid_param("page_size must be an integer") from exc
    if not 1 <= size <= WIKI_MAX_PAGE:
        raise invalid_param(f"page_size must be 1..{WIKI_MAX_PAGE}")
    parent = request.query.get("parent_node_token", "")
    if parent and parent not in state.wiki_nodes:
        raise _wiki_not_found()
    nodes = [n for n in state.wiki_nodes.values() if n.space_id == space_id and n.parent_node_token == parent]
    token = request.query.get("page_token", "")
    start = 0
    if token:
        start = next((i for i, n in enumerate(nodes) if n.node_token == token), -1)
        if start < 0:
            raise invalid_param("page_token is invalid")
    page = nodes[start : start + size]
    out: dict = {"items": [_node_view(state, n) for n in page], "has_more": start + size < len(nodes)}
    if out["has_more"]:
        out["page_token"] = nodes[start + size].node_token
    return ok(out)


def _file(request: web.Request) -> tuple[EmulatorState, str, str]:
    state = request.app[SERVICE].state
    token = request.match_info["file_token"]
    file_type = request.query.get("file_type", "")
    if file_type not in FILE_TYPES:
        raise invalid_param(f"file_type must be one of {sorted(FILE_TYPES)}")
    if token in state.deleted_documents:
        raise FeishuError(1061007, "file has been deleted", 404)
    doc = state.documents.get(token)
    if doc is None or file_type not in ("docx", "doc"):
        raise FeishuError(1061003, "not found", 404)
    return state, token, file_type


@routes.post("/open-apis/drive/v1/files/{file_token}/subscribe")
async def subscribe(request: web.Request) -> web.Response:
    state, token, file_type = _file(request)
    state.subscriptions[token] = file_type
    request.app[SERVICE].live.doc_changed(token)
    return ok({})


@routes.get("/open-apis/drive/v1/files/{file_token}/get_subscribe")
async def get_subscribe(request: web.Request) -> web.Response:
    state, token, _ = _file(request)
    return ok({"is_subscribe": token in state.subscriptions})


@routes.delete("/open-apis/drive/v1/files/{file_token}/delete_subscribe")
async def delete_subscribe(request: web.Request) -> web.Response:
    state, token, _ = _file(request)
    state.subscriptions.pop(token, None)
    request.app[SERVICE].live.doc_changed(token)
    return ok({})


# The SDK uses get_subscribe / delete_subscribe; GET and DELETE on /subscribe are accepted as aliases.
routes.get("/open-apis/drive/v1/files/{file_token}/subscribe")(get_subscribe)
routes.delete("/open-apis/drive/v1/files/{file_token}/subscribe")(delete_subscribe)
