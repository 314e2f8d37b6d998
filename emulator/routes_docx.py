"""docx v1: documents, raw content, blocks (5 requests/s per app)."""

from __future__ import annotations

from aiohttp import web

from emulator import docs
from emulator.httputil import FeishuError, ok, rate_limited
from emulator.keys import SERVICE
from emulator.service import EmulatorService
from emulator.state import Document

routes = web.RouteTableDef()
MAX_PAGE_SIZE = 500


def _invalid(msg: str) -> FeishuError:
    return FeishuError(1770001, f"invalid param: {msg}", 400)


def _doc(request: web.Request) -> tuple[EmulatorService, Document]:
    svc = request.app[SERVICE]
    wait = svc.limiter.hit("docx:app", svc.config.docx_qps)
    if wait is not None:
        raise rate_limited(wait, limit=svc.config.docx_qps, status=429)
    doc = svc.state.documents.get(request.match_info["document_id"])
    if doc is None or doc.trashed:
        raise FeishuError(1770002, "not found", 404)
    return svc, doc


def _int_query(request: web.Request, key: str, default: int) -> int:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise _invalid(f"{key} must be an integer") from exc


def _page(request: web.Request, items: list[dict]) -> dict:
    size = _int_query(request, "page_size", MAX_PAGE_SIZE)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise _invalid(f"page_size must be 1..{MAX_PAGE_SIZE}")
    token = request.query.get("page_token", "")
    start = 0
    if token:
        index = next((i for i, b in enumerate(items) if b["block_id"] == token), None)
        if index is None:
            raise _invalid("page_token is invalid")
        start = index
    page = items[start : start + size]
    out: dict = {"items": page, "has_more": start + size < len(items)}
    if out["has_more"]:
        out["page_token"] = items[start + size]["block_id"]
    return out


def _revision(request: web.Request, doc: Document) -> tuple[str, dict[str, dict]]:
    rev = _int_query(request, "document_revision_id", -1)
    if rev == -1:
        return doc.title, doc.blocks
    if rev not in doc.revisions:
        raise _invalid(f"document_revision_id {rev} does not exist")
    return doc.revisions[rev]


@routes.get("/open-apis/docx/v1/documents/{document_id}")
async def get_document(request: web.Request) -> web.Response:
    _, doc = _doc(request)
    return ok(
        {
            "document": {
                "document_id": doc.document_id,
                "revision_id": doc.revision_id,
                "title": doc.title,
                "display_setting": {
                    "show_authors": True,
                    "show_comment_count": False,
                    "show_create_time": False,
                    "show_like_count": False,
                    "show_pv": False,
                    "show_related_matters": False,
                    "show_uv": False,
                },
            }
        }
    )


@routes.get("/open-apis/docx/v1/documents/{document_id}/raw_content")
async def raw_content(request: web.Request) -> web.Response:
    _, doc = _doc(request)
    return ok({"content": docs.raw_content(doc)})


@routes.get("/open-apis/docx/v1/documents/{document_id}/blocks")
async def list_blocks(request: web.Request) -> web.Response:
    _, doc = _doc(request)
    _, blocks = _revision(request, doc)
    return ok(_page(request, docs.ordered_blocks(blocks, doc.document_id)))


@routes.get("/open-apis/docx/v1/documents/{document_id}/blocks/{block_id}")
async def get_block(request: web.Request) -> web.Response:
    _, doc = _doc(request)
    _, blocks = _revision(request, doc)
    block = blocks.get(request.match_info["block_id"])
    if block is None:
        raise FeishuError(1770002, "not found", 404)
    return ok({"block": block})


@routes.get("/open-apis/docx/v1/documents/{document_id}/blocks/{block_id}/children")
async def list_children(request: web.Request) -> web.Response:
    _, doc = _doc(request)
    _, blocks = _revision(request, doc)
    block = blocks.get(request.match_info["block_id"])
    if block is None:
        raise FeishuError(1770002, "not found", 404)
    return ok(_page(request, [blocks[c] for c in block.get("children", [])]))
