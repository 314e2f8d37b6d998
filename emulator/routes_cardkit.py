"""CardKit v1: card entities, streaming element content, settings.

Codes 300309 (streaming closed) and 300317 (sequence) are Feishu's; the other 3003xx codes used here
(card / element not found, bad element type, bad card JSON) are this emulator's choice.
"""

from __future__ import annotations

import json
import time

from aiohttp import web

from emulator import cards, ids
from emulator.httputil import FeishuError, invalid_param, json_body, ok, rate_limited
from emulator.keys import SERVICE
from emulator.service import EmulatorService
from emulator.state import Card

routes = web.RouteTableDef()

STREAMABLE_TAGS = {"markdown", "plain_text"}


def _card_json(data) -> dict:
    if not isinstance(data, str):
        raise invalid_param("data must be a card JSON string")
    try:
        card = json.loads(data)
        cards.validate_card(card)
    except (ValueError, cards.CardError) as exc:
        raise FeishuError(300301, f"invalid card data: {exc}", 400) from exc
    return card


def _card(svc: EmulatorService, card_id: str) -> Card:
    card = svc.state.cards.get(card_id)
    if card is None:
        raise FeishuError(300302, f"card {card_id} not found", 400)
    # Streaming mode switches itself off after 10 minutes.
    if (
        card.streaming_mode
        and card.streaming_since is not None
        and (time.time() - card.streaming_since > svc.config.streaming_timeout_s)
    ):
        card.config["streaming_mode"] = False
        card.streaming_since = None
    return card


def _begin_op(svc: EmulatorService, card: Card, body: dict) -> tuple[int, bool]:
    """Rate limit, uuid idempotency and the sequence rule. Returns (sequence, already_done)."""
    if svc.limiter.hit(f"card:{card.card_id}", svc.config.card_ops_per_s) is not None:
        raise rate_limited(1, limit=svc.config.card_ops_per_s)
    uuid = body.get("uuid")
    if uuid is not None and (not isinstance(uuid, str) or len(uuid) > 64):
        raise invalid_param("uuid must be a string")
    if uuid and uuid in card.uuids:
        return card.sequence, True
    seq = body.get("sequence")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise invalid_param("sequence is required (positive integer)")
    if seq <= card.sequence:
        raise FeishuError(300317, f"sequence number compare failed: {seq} <= {card.sequence}", 400)
    return seq, False


def _commit(card: Card, body: dict, seq: int, op: dict) -> None:
    card.sequence = seq
    if body.get("uuid"):
        card.uuids.add(body["uuid"])
    card.history.append({"sequence": seq, "time": time.time(), **op})


def _set_streaming(card: Card, was: bool) -> None:
    if card.streaming_mode and not was:
        card.streaming_since = time.time()
    elif not card.streaming_mode:
        card.streaming_since = None


@routes.post("/open-apis/cardkit/v1/cards")
async def create_card(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    body = await json_body(request)
    if body.get("type") != "card_json":
        raise invalid_param("type must be card_json")
    card_json = _card_json(body.get("data"))
    card = Card(card_id=ids.card_id(), card=card_json, created_at=time.time())
    _set_streaming(card, False)
    svc.state.cards[card.card_id] = card
    return ok({"card_id": card.card_id})


@routes.put("/open-apis/cardkit/v1/cards/{card_id}")
async def update_card(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    body = await json_body(request)
    card = _card(svc, request.match_info["card_id"])
    spec = body.get("card")
    if not isinstance(spec, dict) or spec.get("type") != "card_json":
        raise invalid_param('card must be {"type":"card_json","data":"..."}')
    new = _card_json(spec.get("data"))
    seq, done = _begin_op(svc, card, body)
    if not done:
        was = card.streaming_mode
        card.card = new
        _set_streaming(card, was)
        _commit(card, body, seq, {"op": "update"})
        svc.notify_message(card_id=card.card_id)
    return ok({})


@routes.put("/open-apis/cardkit/v1/cards/{card_id}/elements/{element_id}/content")
async def element_content(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    body = await json_body(request)
    card = _card(svc, request.match_info["card_id"])
    element_id = request.match_info["element_id"]
    content = body.get("content")
    if not isinstance(content, str):
        raise invalid_param("content is required (string)")
    seq, done = _begin_op(svc, card, body)
    if done:
        return ok({})
    element = cards.find_element(card.card, element_id)
    if element is None:
        raise FeishuError(300303, f"element {element_id} not found in card", 400)
    if element.get("tag") not in STREAMABLE_TAGS:
        raise FeishuError(
            300304,
            f"element {element_id} is a {element.get('tag')!r}: only markdown and plain_text elements can be streamed",
            400,
        )
    if not card.streaming_mode:
        raise FeishuError(300309, "streaming mode is closed", 400)
    element["content"] = content
    _commit(card, body, seq, {"op": "content", "element_id": element_id, "content": content})
    svc.notify_message(card_id=card.card_id)
    return ok({})


@routes.patch("/open-apis/cardkit/v1/cards/{card_id}/settings")
async def card_settings(request: web.Request) -> web.Response:
    svc = request.app[SERVICE]
    body = await json_body(request)
    card = _card(svc, request.match_info["card_id"])
    raw = body.get("settings")
    try:
        settings = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        settings = None
    if not isinstance(settings, dict):
        raise invalid_param("settings must be a JSON object string")
    seq, done = _begin_op(svc, card, body)
    if done:
        return ok({})
    was = card.streaming_mode
    if isinstance(settings.get("config"), dict):
        card.config.update(settings["config"])
    if isinstance(settings.get("card_link"), dict):
        card.card["card_link"] = settings["card_link"]
    _set_streaming(card, was)
    _commit(card, body, seq, {"op": "settings", "settings": settings})
    svc.notify_message(card_id=card.card_id)
    return ok({})
