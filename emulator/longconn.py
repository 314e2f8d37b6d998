"""Feishu's long connection as `lark.ws.Client` speaks it: endpoint ticket, WebSocket, pbbp2 protobuf frames.

`POST /callback/ws/endpoint` `{"AppID","AppSecret"}` hands out a one-use `ws://` URL; the client then pings
(CONTROL frames, answered with a pong carrying the client config) and answers every pushed DATA frame with
the same frame whose payload is `{"code":200,"data":"<base64 of the callback response>"}`. Events are
plaintext (no encryption, token or signature); each goes to one random connected client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from emulator import ids
from emulator.config import EmulatorConfig

log = structlog.get_logger("emulator")

ENDPOINT_PATH = "/callback/ws/endpoint"
WS_PATH = "/callback/ws"

FRAME_CONTROL = 0
FRAME_DATA = 1
# Handshake refusals (lark_oapi.ws.const): 514 + EXCEED_CONN_LIMIT is final for the SDK, 514 + other is retried.
AUTH_FAILED = 514
EXCEED_CONN_LIMIT = 1000040350
INVALID_TICKET = 1000040351

# (status, parsed response body, latency ms, error): the same shape as Deliverer.post.
PushResult = tuple[int | None, Any, float, str | None]


@dataclass
class LongConnClient:
    conn_id: str  # the device_id of the ticket
    service_id: int
    ws: web.WebSocketResponse
    connected_at: float
    pings: int = 0
    pushed: int = 0
    pending: dict[str, asyncio.Future] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "conn_id": self.conn_id,
            "service_id": self.service_id,
            "connected_at": self.connected_at,
            "pings": self.pings,
            "pushed": self.pushed,
            "pending": len(self.pending),
        }


def _header(frame: Frame, key: str) -> str | None:
    for h in frame.headers:
        if h.key == key:
            return h.value
    return None


def _frame(service_id: int, method: int, headers: dict[str, str], payload: bytes, seq_id: int = 0) -> Frame:
    frame = Frame()
    frame.SeqID = seq_id
    frame.LogID = seq_id
    frame.service = service_id
    frame.method = method
    for key, value in headers.items():
        h = frame.headers.add()
        h.key = key
        h.value = value
    frame.payload = payload
    return frame


class LongConnHub:
    """Tickets, connected clients and the push of one payload to one random client."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.tickets: dict[str, int] = {}  # device_id -> service_id, one use each
        self.clients: dict[str, LongConnClient] = {}
        self.pings = 0
        self.refused: list[dict] = []  # endpoint and handshake refusals, for tests
        self._seq = itertools.count(1)

    @property
    def connected(self) -> int:
        return len(self.clients)

    def client_config(self) -> dict[str, Any]:
        c = self.config
        return {
            "ReconnectCount": int(c.longconn_reconnect_count),
            "ReconnectInterval": c.longconn_reconnect_interval_s,
            "ReconnectNonce": c.longconn_reconnect_nonce_s,
            "PingInterval": c.longconn_ping_interval_s,
        }

    def view(self) -> dict:
        return {
            "transport": self.config.event_transport,
            "max_connections": self.config.longconn_max_connections,
            "pings": self.pings,
            "clients": [c.to_dict() for c in self.clients.values()],
            "refused": list(self.refused),
        }

    # HTTP: the endpoint ticket

    async def endpoint(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        cfg = self.config
        app_id = body.get("AppID") if isinstance(body, dict) else None
        secret = body.get("AppSecret") if isinstance(body, dict) else None
        if not isinstance(app_id, str) or not app_id or not isinstance(secret, str) or not secret:
            return self._refuse_endpoint(10003, "invalid param")
        if app_id != cfg.app_id:
            return self._refuse_endpoint(10003, "invalid param: app_id not found")
        if not hmac.compare_digest(secret.encode(), cfg.app_secret.encode()):
            return self._refuse_endpoint(10014, "app secret invalid")
        device_id = ids.hex_id(18)
        service_id = self.rng.randint(100_000, 999_999)
        self.tickets[device_id] = service_id
        url = f"ws://{request.host}{WS_PATH}?device_id={device_id}&service_id={service_id}"
        data = {"URL": url, "ClientConfig": self.client_config()}
        return web.json_response({"code": 0, "msg": "ok", "data": data})

    def _refuse_endpoint(self, code: int, msg: str) -> web.Response:
        self.refused.append({"stage": "endpoint", "code": code, "msg": msg, "time": time.time()})
        log.info("emulator.longconn_refused", stage="endpoint", code=code, msg=msg)
        return web.json_response({"code": code, "msg": msg})

    def _refuse_handshake(self, auth_code: int, msg: str) -> web.Response:
        self.refused.append({"stage": "handshake", "code": auth_code, "msg": msg, "time": time.time()})
        log.info("emulator.longconn_refused", stage="handshake", code=auth_code, msg=msg)
        headers = {
            "handshake-status": str(AUTH_FAILED),
            "handshake-msg": msg,
            "handshake-autherrcode": str(auth_code),
        }
        return web.json_response({"code": auth_code, "msg": msg}, status=403, headers=headers)

    # WebSocket

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        device_id = request.query.get("device_id", "")
        service_id = self.tickets.pop(device_id, None)
        if service_id is None or request.query.get("service_id") != str(service_id):
            return self._refuse_handshake(INVALID_TICKET, "invalid or used connection ticket")
        if len(self.clients) >= self.config.longconn_max_connections:
            return self._refuse_handshake(
                EXCEED_CONN_LIMIT, f"exceed connection limit ({self.config.longconn_max_connections})"
            )
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        client = LongConnClient(device_id, service_id, ws, time.time())
        self.clients[device_id] = client
        log.info("emulator.longconn_connected", conn_id=device_id, clients=len(self.clients))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await self._on_frame(client, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.pop(device_id, None)
            for fut in client.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("long connection closed"))
            log.info("emulator.longconn_disconnected", conn_id=device_id, clients=len(self.clients))
        return ws

    async def _on_frame(self, client: LongConnClient, data: bytes) -> None:
        frame = Frame()
        try:
            frame.ParseFromString(data)
        except Exception as exc:
            log.warning("emulator.longconn_bad_frame", conn_id=client.conn_id, error=str(exc))
            return
        kind = _header(frame, "type")
        if frame.method == FRAME_CONTROL:
            if kind == "ping":
                client.pings += 1
                self.pings += 1
                pong = _frame(frame.service, FRAME_CONTROL, {"type": "pong"}, json.dumps(self.client_config()).encode())
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await client.ws.send_bytes(pong.SerializeToString())
            return
        if frame.method == FRAME_DATA:
            fut = client.pending.get(_header(frame, "message_id") or "")
            if fut is not None and not fut.done():
                fut.set_result(bytes(frame.payload))

    async def push(self, payload: dict, timeout_s: float) -> tuple[str, PushResult]:
        """Push one event to one random client and wait for its answer: (url for the record, result)."""
        if not self.clients:
            return "longconn://", (None, None, 0.0, "no long-connection client connected")
        client = self.rng.choice(list(self.clients.values()))
        url = f"longconn://{client.conn_id}"
        msg_id = ids.hex_id(32)
        seq = next(self._seq)
        headers = {"type": "event", "message_id": msg_id, "trace_id": ids.hex_id(32), "sum": "1", "seq": "0"}
        frame = _frame(client.service_id, FRAME_DATA, headers, json.dumps(payload, ensure_ascii=False).encode(), seq)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        client.pending[msg_id] = fut
        client.pushed += 1
        start = time.perf_counter()
        try:
            await client.ws.send_bytes(frame.SerializeToString())
            answer: bytes = await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            return url, (None, None, (time.perf_counter() - start) * 1000, f"timeout after {timeout_s}s")
        except (ConnectionError, RuntimeError) as exc:
            return url, (None, None, (time.perf_counter() - start) * 1000, f"{type(exc).__name__}: {exc}")
        finally:
            client.pending.pop(msg_id, None)
        latency = (time.perf_counter() - start) * 1000
        return url, _result(answer, latency)

    async def close(self) -> None:
        """Close every connection (the emulator is stopping)."""
        for client in list(self.clients.values()):
            with contextlib.suppress(Exception):
                await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        self.clients.clear()


def _result(answer: bytes, latency: float) -> PushResult:
    """Decode `{"code":200,"data":"<base64 JSON>"}` into (status, body, latency, error)."""
    try:
        resp = json.loads(answer)
        status = int(resp.get("code"))
    except (ValueError, TypeError, AttributeError):
        return None, answer[:2000].decode("utf-8", "replace"), latency, "malformed answer frame"
    body: Any = None
    data = resp.get("data")
    if data:
        try:
            body = json.loads(base64.b64decode(data))
        except (ValueError, TypeError):
            body = str(data)[:2000]
    return status, body, latency, None if status == 200 else f"code {status}"
