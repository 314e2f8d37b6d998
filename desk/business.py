"""Business assist: look up a customer's order in a pluggable backend and say what we found.

Backends: `demo` (sample orders, the embedded default), `http` (the company's order API) or `none`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp


@dataclass
class OrderInfo:
    order_id: str
    status: str
    items: list[str]
    amount: float
    carrier: str = ""
    tracking_no: str = ""
    eta: str = ""
    updated_at: str = ""


class BusinessBackend(Protocol):
    name: str

    async def lookup_order(self, order_id: str) -> OrderInfo | None:
        """The order, or None when there is no such order; raises BusinessUnavailable when it cannot tell."""
        ...

    async def close(self) -> None: ...


class BusinessUnavailable(Exception):
    """The backend could not answer (down, timeout, 5xx, garbage): not the same as "no such order"."""


# -- demo ------------------------------------------------------------------------------------------

_DEMO_ORDERS = [
    OrderInfo("20241101001", "待发货", ["无线蓝牙耳机 Pro"], 299.0, updated_at="2024-11-01 10:12"),
    OrderInfo("20241102002", "已发货", ["智能电饭煲 4L", "不粘内胆"], 589.0, "顺丰", "SF1402345678901",
              "2024-11-04", "2024-11-02 18:40"),
    OrderInfo("20241103003", "运输中", ["双开门冰箱 520L"], 4299.0, "中通", "78912345678901",
              "2024-11-07", "2024-11-04 09:05"),
    OrderInfo("20241028004", "已签收", ["纯棉四件套", "记忆棉枕头 ×2"], 458.0, "圆通", "YT8876543210987",
              "2024-10-31", "2024-10-31 15:22"),
    OrderInfo("20241025005", "退款中", ["空气炸锅 5L"], 369.0, "中通", "78900011122233",
              updated_at="2024-11-01 11:30"),
    OrderInfo("20241030006", "已取消", ["电动牙刷"], 199.0, updated_at="2024-10-30 21:03"),
    OrderInfo("20241104007", "运输中", ["55英寸 4K 电视", "壁挂支架"], 3199.0, "京东物流", "JDX019283746501",
              "2024-11-06", "2024-11-05 07:48"),
]


class DemoOrderBackend:
    """Fixed sample orders of the fictional shop, so `make run` can show order answers offline."""

    name = "demo"

    def __init__(self, orders: list[OrderInfo] | None = None) -> None:
        self._orders = {o.order_id: o for o in (orders if orders is not None else _DEMO_ORDERS)}

    async def lookup_order(self, order_id: str) -> OrderInfo | None:
        order = self._orders.get(order_id)
        # A copy with its own item list: callers must not change the samples.
        return dataclasses.replace(order, items=list(order.items)) if order else None

    async def close(self) -> None:
        return None

    @property
    def order_ids(self) -> list[str]:
        return list(self._orders)


# -- HTTP ------------------------------------------------------------------------------------------


class HttpOrderBackend:
    """`GET {base_url}/orders/{order_id}` → an order object (or `{"data": {...}}`); 404 means no such order."""

    name = "http"

    def __init__(self, base_url: str, api_key: str = "", timeout_s: float = 5.0) -> None:
        if not base_url:
            raise ValueError("HttpOrderBackend needs a base_url")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: a ClientSession must be made inside the running loop.
        if self._session is None or self._session.closed:
            headers = {"Accept": "application/json"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=headers)
        return self._session

    async def lookup_order(self, order_id: str) -> OrderInfo | None:
        url = f"{self.base_url}/orders/{quote(order_id, safe='')}"
        try:
            async with self._client().get(url) as resp:
                if resp.status == 404:
                    return None
                if not 200 <= resp.status < 300:
                    raise BusinessUnavailable(f"order backend answered HTTP {resp.status} for {order_id}")
                raw = await resp.read()
        except TimeoutError as exc:  # aiohttp raises asyncio.TimeoutError, the same class on 3.11
            raise BusinessUnavailable(f"order backend timed out after {self._timeout.total}s") from exc
        except aiohttp.ClientError as exc:
            raise BusinessUnavailable(f"order backend unreachable: {type(exc).__name__}: {exc}") from exc
        return order_from_json(raw, order_id)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def order_from_json(raw: bytes | str, order_id: str) -> OrderInfo:
    """Map the backend's JSON onto OrderInfo (same field names); anything unusable is BusinessUnavailable."""
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BusinessUnavailable("order backend answered invalid JSON") from exc
    if isinstance(body, dict):
        for key in ("data", "order"):
            if isinstance(body.get(key), dict) and "order_id" not in body:
                body = body[key]
                break
    if not isinstance(body, dict) or not isinstance(body.get("status"), str) or not body["status"]:
        raise BusinessUnavailable("order backend answered an order without a status")
    try:
        amount = float(body.get("amount") or 0)
    except (TypeError, ValueError) as exc:
        raise BusinessUnavailable(f"order backend answered a bad amount: {body.get('amount')!r}") from exc
    return OrderInfo(
        order_id=str(body.get("order_id") or order_id),
        status=body["status"],
        items=_item_names(body.get("items")),
        amount=amount,
        **{k: str(body.get(k) or "") for k in ("carrier", "tracking_no", "eta", "updated_at")},
    )


def _item_names(items: Any) -> list[str]:
    """Items as names: strings as they are, objects by their name/title (with a quantity above 1)."""
    out: list[str] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            name = str(item.get("name") or item.get("title") or "")
            qty = item.get("quantity")
            if name and isinstance(qty, int) and qty > 1:
                name = f"{name} ×{qty}"
        else:
            name = str(item)
        if name:
            out.append(name)
    return out


# -- configuration ---------------------------------------------------------------------------------


def create_business_backend(settings: Any) -> BusinessBackend | None:
    """The backend `settings.business_backend` names: "demo", "http" (needs business_api_url) or "none"."""
    kind = getattr(settings, "business_backend", "demo")
    if kind == "none":
        return None
    if kind == "demo":
        return DemoOrderBackend()
    if kind == "http":
        url = getattr(settings, "business_api_url", "")
        if not url:
            raise ValueError("BUSINESS_BACKEND=http needs BUSINESS_API_URL (the base of GET {url}/orders/{order_id})")
        return HttpOrderBackend(url, getattr(settings, "business_api_key", ""),
                                float(getattr(settings, "business_timeout_s", 5.0)))
    raise ValueError(f"BUSINESS_BACKEND must be demo, http or none, not {kind!r}")


# -- finding an order number in a message ----------------------------------------------------------

_NUMBER = re.compile(r"(?<!\d)\d{10,20}(?!\d)")
# An order word right before the number: 订单/订单号/单号/order (no./number/id)/#, with an optional 是/:/is.
_ORDER_WORD = re.compile(
    r"(?:(?:订单编?号?|单号|order(?:\s*(?:no\.?|number|id))?)\s*(?:is|是|为|:)?\s*#?|#)\s*$", re.IGNORECASE
)
_MOBILE = re.compile(r"1[3-9]\d{9}")
# Codes customers give for orders of other systems: ORG-999999, A-2024-001, SO2024X17 (letters, digits and
# dashes with at least one digit); after an order word any such code counts, alone it needs letters + digits.
_CODE_AFTER_WORD = re.compile(
    r"(?:订单编?号?|单号|order(?:\s*(?:no\.?|number|id))?)\s*(?:is|是|为|:)?\s*#?\s*"
    r"(?P<code>[A-Za-z0-9][A-Za-z0-9-]{2,30}[A-Za-z0-9])", re.IGNORECASE)
_HASH_CODE = re.compile(r"(?<![A-Za-z0-9])#(?P<code>[A-Za-z0-9][A-Za-z0-9-]{2,30})")
_LETTER_CODE = re.compile(r"(?<![A-Za-z0-9-])(?P<code>[A-Za-z]{1,6}-?\d[A-Za-z0-9-]{3,30})(?![A-Za-z0-9-])")


def extract_order_id(text: str) -> str | None:
    """The order number in a message: 10-20 digits, preferring one after an order word; else a code after an
    order word or a `#` (`订单号：A-2024-001`, `#12345`), else a letters-and-digits code (`ORG-999999`).

    An 11-digit mainland mobile number (1[3-9]…) counts only after an order word: customers often give
    their phone number along with the order.
    """
    text = unicodedata.normalize("NFKC", text or "")  # full-width digits and colons
    fallback = None
    for m in _NUMBER.finditer(text):
        if _ORDER_WORD.search(text[max(0, m.start() - 24) : m.start()]):
            return m.group()
        if fallback is None and not _MOBILE.fullmatch(m.group()):
            fallback = m.group()
    if fallback:
        return fallback
    for pattern in (_CODE_AFTER_WORD, _HASH_CODE, _LETTER_CODE):
        for m in pattern.finditer(text):
            code = m.group("code").strip("-")
            if any(c.isdigit() for c in code) and (pattern is not _LETTER_CODE or any(c.isalpha() for c in code)):
                return code.upper() if pattern is _LETTER_CODE else code
    return None


# -- what the bot says -----------------------------------------------------------------------------

_STATUS_EN = {
    "待发货": "awaiting shipment",
    "已发货": "shipped",
    "运输中": "in transit",
    "已签收": "delivered",
    "退款中": "refund in progress",
    "已取消": "cancelled",
}
_HINT_ZH = {
    "待发货": "仓库正在备货，发货后会更新物流单号。",
    "退款中": "退款审核通过后，款项会原路退回，一般 1-7 个工作日到账。",
    "已取消": "订单已取消，如已付款会原路退回。",
}
_HINT_EN = {
    "待发货": "The warehouse is preparing it; the tracking number appears once it ships.",
    "退款中": "Once approved, the refund goes back to the original payment method within 1-7 working days.",
    "已取消": "The order was cancelled; any payment is refunded to the original method.",
}


def describe_order(order: OrderInfo, language: str = "zh-CN") -> str:
    """A short plain-text summary for the customer (zh-CN by default, "en…" for English)."""
    en = language.lower().startswith("en")
    shipping = " ".join(p for p in (order.carrier, order.tracking_no) if p)
    eta = order.eta if order.status not in ("已签收", "已取消") else ""  # a past estimate only confuses
    if en:
        rows = [
            ("Order ", f"{order.order_id}: {_STATUS_EN.get(order.status, order.status)}"),
            ("Items: ", ", ".join(order.items)),
            ("Amount: ", f"¥{order.amount:.2f}"),
            ("Shipping: ", shipping),
            ("Expected delivery: ", eta),
            ("Last update: ", order.updated_at),
            ("", _HINT_EN.get(order.status, "")),
        ]
    else:
        rows = [
            ("订单 ", f"{order.order_id}：{order.status}"),
            ("商品：", "、".join(order.items)),
            ("金额：", f"¥{order.amount:.2f}"),
            ("物流：", shipping),
            ("预计送达：", eta),
            ("更新时间：", order.updated_at),
            ("", _HINT_ZH.get(order.status, "")),
        ]
    return "\n".join(label + value for label, value in rows if value)
