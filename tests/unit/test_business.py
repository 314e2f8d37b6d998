"""Business assist: order backends (demo, HTTP against a local server), configuration, order ids, wording."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from desk.business import (
    BusinessUnavailable,
    DemoOrderBackend,
    HttpOrderBackend,
    OrderInfo,
    create_business_backend,
    describe_order,
    extract_order_id,
)

pytestmark = pytest.mark.unit

ORDER = {
    "order_id": "20241102002",
    "status": "已发货",
    "items": ["智能电饭煲 4L", {"name": "不粘内胆", "quantity": 2}],
    "amount": "589.5",
    "carrier": "顺丰",
    "tracking_no": "SF1402345678901",
    "eta": "2024-11-04",
    "updated_at": "2024-11-02 18:40",
}


@pytest.fixture
async def order_api():
    """A local order API: behaviour chosen by the order id; records the Authorization headers."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        oid = request.match_info["order_id"]
        if oid == "20241102002":
            return web.json_response(ORDER)
        if oid == "20241102003":
            return web.json_response({"code": 0, "data": {**ORDER, "order_id": oid, "items": []}})
        if oid == "5000000000":
            return web.json_response({"error": "boom"}, status=500)
        if oid == "4010000000":
            return web.json_response({"error": "bad key"}, status=401)
        if oid == "7000000000":
            await asyncio.sleep(2)
            return web.json_response(ORDER)
        if oid == "8000000000":
            return web.Response(text="<html>oops</html>", content_type="text/html")
        if oid == "8100000000":
            return web.json_response({"order_id": oid, "items": []})  # no status
        return web.json_response({"error": "not found"}, status=404)

    app = web.Application()
    app.router.add_get("/api/orders/{order_id}", handler)
    server = TestServer(app)
    await server.start_server()
    yield SimpleNamespace(url=str(server.make_url("/api")), seen=seen)
    await server.close()


async def test_http_backend_found_with_key_and_one_session(order_api):
    backend = HttpOrderBackend(order_api.url + "/", api_key="k-123", timeout_s=1.0)
    order = await backend.lookup_order("20241102002")
    assert order == OrderInfo("20241102002", "已发货", ["智能电饭煲 4L", "不粘内胆 ×2"], 589.5, "顺丰",
                              "SF1402345678901", "2024-11-04", "2024-11-02 18:40")
    session = backend._session
    wrapped = await backend.lookup_order("20241102003")  # {"data": {...}} envelopes are accepted too
    assert wrapped is not None and wrapped.order_id == "20241102003" and wrapped.items == []
    assert backend._session is session  # one pooled session for every lookup
    assert order_api.seen == ["Bearer k-123", "Bearer k-123"]
    await backend.close()
    assert session.closed


async def test_http_backend_not_found_and_no_key(order_api):
    backend = HttpOrderBackend(order_api.url, timeout_s=1.0)
    try:
        assert await backend.lookup_order("20240000000") is None
        assert await backend.lookup_order("a/../b") is None  # quoted into one path segment, not a traversal
        assert order_api.seen[0] is None
    finally:
        await backend.close()


@pytest.mark.parametrize(
    ("order_id", "message"),
    [
        ("5000000000", "HTTP 500"),
        ("4010000000", "HTTP 401"),
        ("7000000000", "timed out"),
        ("8000000000", "invalid JSON"),
        ("8100000000", "without a status"),
    ],
)
async def test_http_backend_unavailable(order_api, order_id, message):
    backend = HttpOrderBackend(order_api.url, timeout_s=0.3)
    try:
        with pytest.raises(BusinessUnavailable, match=message):
            await backend.lookup_order(order_id)
    finally:
        await backend.close()


async def test_http_backend_connection_refused():
    backend = HttpOrderBackend("http://127.0.0.1:9", timeout_s=1.0)
    try:
        with pytest.raises(BusinessUnavailable, match="unreachable"):
            await backend.lookup_order("20241102002")
    finally:
        await backend.close()


async def test_demo_backend_states_and_copies():
    backend = DemoOrderBackend()
    orders = [await backend.lookup_order(i) for i in backend.order_ids]
    assert 6 <= len(orders) <= 8
    assert {o.status for o in orders} >= {"待发货", "已发货", "运输中", "已签收", "退款中", "已取消"}
    assert all(extract_order_id(f"订单{o.order_id}") == o.order_id for o in orders)
    assert await backend.lookup_order("99999999999") is None
    orders[0].items.append("tampered")
    assert "tampered" not in (await backend.lookup_order(orders[0].order_id)).items
    await backend.close()


def test_create_business_backend():
    def s(**kw):
        base = {"business_backend": "demo", "business_api_url": "", "business_api_key": "", "business_timeout_s": 2.0}
        return SimpleNamespace(**{**base, **kw})

    assert isinstance(create_business_backend(s()), DemoOrderBackend)
    assert create_business_backend(s(business_backend="none")) is None
    http = create_business_backend(s(business_backend="http", business_api_url="http://orders.local/v1/"))
    assert isinstance(http, HttpOrderBackend) and http.base_url == "http://orders.local/v1"
    with pytest.raises(ValueError, match="BUSINESS_API_URL"):
        create_business_backend(s(business_backend="http"))
    with pytest.raises(ValueError, match="demo, http or none"):
        create_business_backend(s(business_backend="erp"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的订单20241101001什么时候发货", "20241101001"),
        ("订单号：20241101001", "20241101001"),
        ("订单号是 20241101001", "20241101001"),
        ("单号 2024110100123456", "2024110100123456"),
        ("order #20241101001 where is it", "20241101001"),
        ("Order number: 20241101001", "20241101001"),
        ("#20241101001", "20241101001"),
        ("20241101001", "20241101001"),
        ("查一下２０２４１１０１００１", "20241101001"),  # full-width digits
        ("我手机13812345678，订单20241101001", "20241101001"),
        ("订单 20241101001，电话 13812345678", "20241101001"),
        ("订单号13812345678", "13812345678"),  # an order word makes even a mobile-like number count
        ("电话13812345678", None),
        ("13812345678", None),
        ("帮我查下 123456789", None),  # too short
        ("123456789012345678901", None),  # too long
        ("", None),
        ("退货要多久", None),
        ("手机 13812345678 还有 9876543210", "9876543210"),
    ],
)
def test_extract_order_id(text, expected):
    assert extract_order_id(text) == expected


def test_describe_order_zh_and_en():
    shipped = OrderInfo("20241102002", "已发货", ["电饭煲", "内胆"], 589.0, "顺丰", "SF1", "2024-11-04", "2024-11-02")
    zh = describe_order(shipped)
    assert zh.splitlines()[0] == "订单 20241102002：已发货"
    assert "电饭煲、内胆" in zh and "¥589.00" in zh and "顺丰 SF1" in zh and "预计送达：2024-11-04" in zh
    en = describe_order(shipped, "en")
    assert en.splitlines()[0] == "Order 20241102002: shipped" and "Shipping: 顺丰 SF1" in en
    pending = OrderInfo("20241101001", "待发货", ["耳机"], 299.0)
    assert "物流：" not in describe_order(pending) and "备货" in describe_order(pending)
    delivered = OrderInfo("20241028004", "已签收", ["四件套"], 458.0, eta="2024-10-31")
    assert "预计送达" not in describe_order(delivered)
    assert "unknown-state" in describe_order(OrderInfo("1", "unknown-state", [], 0.0), "en")
