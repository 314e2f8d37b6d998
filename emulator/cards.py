"""Card JSON (1.0 / 2.0) checks and traversal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

ELEMENT_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")
MAX_ELEMENTS = 200
# Keys under which containers hold child elements.
_CHILD_KEYS = ("elements", "columns", "actions")
INTERACTIVE_TAGS = {
    "button",
    "select_static",
    "select_person",
    "multi_select_static",
    "multi_select_person",
    "overflow",
    "date_picker",
    "picker_time",
    "picker_datetime",
    "checker",
    "input",
    "select_img",
}
TEXT_TAGS = {"markdown", "plain_text", "div"}


class CardError(ValueError):
    pass


def is_v2(card: dict) -> bool:
    return str(card.get("schema", "")) == "2.0"


def top_elements(card: dict) -> list:
    if is_v2(card):
        body = card.get("body") or {}
        return body.get("elements") or [] if isinstance(body, dict) else []
    if "i18n_elements" in card and isinstance(card["i18n_elements"], dict):
        out: list = []
        for els in card["i18n_elements"].values():
            out.extend(els if isinstance(els, list) else [])
        return out
    return card.get("elements") or []


def _walk(elements: Any) -> Iterator[dict]:
    if not isinstance(elements, list):
        return
    for el in elements:
        if not isinstance(el, dict):
            continue
        yield el
        for key in _CHILD_KEYS:
            if key in el and isinstance(el[key], list):
                yield from _walk(el[key])


def iter_elements(card: dict) -> Iterator[dict]:
    yield from _walk(top_elements(card))


def find_element(card: dict, element_id: str) -> dict | None:
    for el in iter_elements(card):
        if el.get("element_id") == element_id:
            return el
    return None


def validate_card(card: Any) -> None:
    if not isinstance(card, dict):
        raise CardError("card must be a JSON object")
    header = card.get("header")
    if header is not None:
        if not isinstance(header, dict):
            raise CardError("header must be an object")
        title = header.get("title")
        if title is not None and (not isinstance(title, dict) or "content" not in title):
            raise CardError("header.title must be a text object with content")
    if is_v2(card):
        body = card.get("body")
        if body is not None and (not isinstance(body, dict) or not isinstance(body.get("elements", []), list)):
            raise CardError("body.elements must be a list")
    elif "elements" in card and not isinstance(card["elements"], list):
        raise CardError("elements must be a list")
    elif "schema" in card and str(card["schema"]) not in ("2.0",):
        raise CardError(f"unsupported card schema {card['schema']!r}")
    seen: set[str] = set()
    count = 0
    for el in iter_elements(card):
        count += 1
        if "tag" not in el and "elements" not in el:
            raise CardError("every element needs a tag")
        eid = el.get("element_id")
        if eid is not None:
            if not isinstance(eid, str) or not ELEMENT_ID_RE.match(eid):
                raise CardError(f"invalid element_id {eid!r}: [A-Za-z][A-Za-z0-9_]{{0,19}}")
            if eid in seen:
                raise CardError(f"duplicate element_id {eid!r}")
            seen.add(eid)
    if count > MAX_ELEMENTS:
        raise CardError(f"too many elements ({count} > {MAX_ELEMENTS})")


def callback_values(card: dict) -> list[tuple[dict, Any]]:
    """(element, value) for every interactive element that sends a callback."""
    out = []
    for el in iter_elements(card):
        if el.get("tag") not in INTERACTIVE_TAGS:
            continue
        if "value" in el:
            out.append((el, el["value"]))
        for beh in el.get("behaviors") or []:
            if isinstance(beh, dict) and beh.get("type") == "callback":
                out.append((el, beh.get("value")))
        if el.get("form_action_type") == "submit" and "value" not in el:
            out.append((el, {}))
    return out


def text_of(card: dict) -> str:
    """All visible text of a card, joined (for tests and the chat view)."""
    parts: list[str] = []
    header = card.get("header") or {}
    title = header.get("title") if isinstance(header, dict) else None
    if isinstance(title, dict) and title.get("content"):
        parts.append(str(title["content"]))
    for el in iter_elements(card):
        if isinstance(el.get("content"), str):
            parts.append(el["content"])
        text = el.get("text")
        if isinstance(text, dict) and isinstance(text.get("content"), str):
            parts.append(text["content"])
    return "\n".join(parts)
