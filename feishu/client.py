"""Feishu Open API client on the real lark-oapi SDK, with retries, rate limits and off-loop tokens."""

from __future__ import annotations

import asyncio
import json
import time
import uuid as uuidlib
from collections.abc import AsyncIterator
from typing import Any

import lark_oapi as lark
import redis.asyncio as aioredis
import structlog
from lark_oapi.core.enum import AccessTokenType, HttpMethod
from lark_oapi.core.token.manager import TokenManager

from feishu.errors import (
    CHAT_RATE_LIMITED,
    RATE_LIMITED,
    TOKEN_INVALID,
    TOKEN_MISSING,
    FeishuAPIError,
    FeishuRateLimited,
)
from feishu.ratelimit import KeyedRateLimiter, SharedRateLimiter
from feishu.transport import PooledTransport
from observability.metrics import FEISHU_CALLS, FEISHU_LATENCY

log = structlog.get_logger("feishu")

_MAX_RESET_WAIT_S = 60.0


def new_uuid() -> str:
    return uuidlib.uuid4().hex


class FeishuClient:
    """One client per app. Every call runs on the event loop except the SDK's synchronous token fetch,
    which is done in a thread ahead of the call, so the loop never blocks on it."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        domain: str,
        *,
        timeout_s: float = 10.0,
        chat_qps: int = 5,
        app_qps: int = 50,
        max_retries: int = 4,
        redis: aioredis.Redis | None = None,
    ) -> None:
        """`redis`: count the per-chat and per-app limits in Redis, shared by every process of the app."""
        self._sdk = (
            lark.Client.builder()
            .app_id(app_id)
            .app_secret(app_secret)
            .domain(domain)
            .timeout(timeout_s)
            .enable_set_token(True)
            .log_level(lark.LogLevel.WARNING)
            .build()
        )
        self.app_id = app_id
        self._token_lock = asyncio.Lock()
        self._chat_limiter: KeyedRateLimiter | SharedRateLimiter = KeyedRateLimiter(chat_qps, slack_s=0.05)
        self._app_limiter: KeyedRateLimiter | SharedRateLimiter = KeyedRateLimiter(app_qps)
        if redis is not None:
            self._chat_limiter = SharedRateLimiter(redis, f"{app_id}:chat", chat_qps, slack_s=0.05)
            self._app_limiter = SharedRateLimiter(redis, f"{app_id}:app", app_qps)
        self._max_retries = max_retries
        self._bot_open_id = ""
        self._transport = PooledTransport(timeout_s)

    async def close(self) -> None:
        await self._transport.close()

    # -- messages ----------------------------------------------------------------------------------

    async def send(
        self, receive_id: str, msg_type: str, content: dict[str, Any] | str, *,
        receive_id_type: str = "chat_id", uuid: str | None = None,
    ) -> dict[str, Any]:
        """Send a message; the same `uuid` never sends twice (Feishu keeps it for an hour)."""
        body = {"receive_id": receive_id, "msg_type": msg_type, "content": _content(content),
                "uuid": uuid or new_uuid()}
        return await self.call("im.message.create", HttpMethod.POST, "/open-apis/im/v1/messages",
                               queries={"receive_id_type": receive_id_type}, body=body, chat_key=receive_id)

    async def send_text(self, chat_id: str, text: str, *, uuid: str | None = None) -> dict[str, Any]:
        return await self.send(chat_id, "text", {"text": text}, uuid=uuid)

    async def send_card(self, chat_id: str, card: dict[str, Any], *, uuid: str | None = None) -> dict[str, Any]:
        return await self.send(chat_id, "interactive", card, uuid=uuid)

    async def reply(
        self, message_id: str, msg_type: str, content: dict[str, Any] | str, *,
        uuid: str | None = None, reply_in_thread: bool = False, chat_id: str = "",
    ) -> dict[str, Any]:
        body = {"msg_type": msg_type, "content": _content(content), "reply_in_thread": reply_in_thread,
                "uuid": uuid or new_uuid()}
        return await self.call("im.message.reply", HttpMethod.POST, "/open-apis/im/v1/messages/:message_id/reply",
                               paths={"message_id": message_id}, body=body, chat_key=chat_id or message_id)

    async def reply_text(self, message_id: str, text: str, *, uuid: str | None = None,
                         reply_in_thread: bool = False, chat_id: str = "") -> dict[str, Any]:
        return await self.reply(message_id, "text", {"text": text}, uuid=uuid, reply_in_thread=reply_in_thread,
                                chat_id=chat_id)

    async def patch_card(self, message_id: str, card: dict[str, Any]) -> None:
        """Replace a sent card (needs `config.update_multi: true`); everyone in the chat sees the new one."""
        await self.call("im.message.patch", HttpMethod.PATCH, "/open-apis/im/v1/messages/:message_id",
                        paths={"message_id": message_id}, body={"content": _content(card)},
                        chat_key=f"patch:{message_id}")

    async def get_message(self, message_id: str) -> dict[str, Any]:
        return await self.call("im.message.get", HttpMethod.GET, "/open-apis/im/v1/messages/:message_id",
                               paths={"message_id": message_id})

    async def delay_update_card(self, token: str, card: dict[str, Any]) -> None:
        """Update a card after the callback answered, with the callback's `c-` token (30 min, 2 uses)."""
        await self.call("interactive.card.update", HttpMethod.POST, "/open-apis/interactive/v1/card/update",
                        body={"token": token, "card": card})

    # -- chats -------------------------------------------------------------------------------------

    async def chat_members(self, chat_id: str) -> list[dict[str, str]]:
        """The users of a chat as `{"open_id", "name"}`, all pages (Feishu never lists bots here)."""
        return [{"open_id": str(m.get("member_id", "")), "name": str(m.get("name", ""))}
                async for m in self._paginate("im.chat_members.get", "/open-apis/im/v1/chats/:chat_id/members",
                                              {"chat_id": chat_id}, {"member_id_type": "open_id", "page_size": 100})]

    # -- CardKit streaming -------------------------------------------------------------------------

    async def create_card(self, card: dict[str, Any]) -> str:
        data = await self.call("cardkit.card.create", HttpMethod.POST, "/open-apis/cardkit/v1/cards",
                               body={"type": "card_json", "data": json.dumps(card, ensure_ascii=False)})
        return str(data["card_id"])

    async def stream_element_content(self, card_id: str, element_id: str, content: str, sequence: int) -> None:
        """Set an element's full text so far; `sequence` must rise strictly per card."""
        await self.call("cardkit.card_element.content", HttpMethod.PUT,
                        "/open-apis/cardkit/v1/cards/:card_id/elements/:element_id/content",
                        paths={"card_id": card_id, "element_id": element_id},
                        body={"uuid": new_uuid(), "content": content, "sequence": sequence})

    async def update_card_settings(self, card_id: str, settings: dict[str, Any], sequence: int) -> None:
        await self.call("cardkit.card.settings", HttpMethod.PATCH, "/open-apis/cardkit/v1/cards/:card_id/settings",
                        paths={"card_id": card_id},
                        body={"settings": json.dumps(settings), "uuid": new_uuid(), "sequence": sequence})

    async def close_streaming(self, card_id: str, sequence: int) -> None:
        await self.update_card_settings(card_id, {"config": {"streaming_mode": False}}, sequence)

    # -- docx, wiki, drive -------------------------------------------------------------------------

    async def get_document(self, document_id: str) -> dict[str, Any]:
        data = await self.call("docx.document.get", HttpMethod.GET, "/open-apis/docx/v1/documents/:document_id",
                               paths={"document_id": document_id}, chat_key="docx")
        return data["document"]

    async def get_raw_content(self, document_id: str) -> str:
        data = await self.call("docx.document.raw_content", HttpMethod.GET,
                               "/open-apis/docx/v1/documents/:document_id/raw_content",
                               paths={"document_id": document_id}, chat_key="docx")
        return str(data.get("content", ""))

    async def list_blocks(self, document_id: str, page_size: int = 500) -> list[dict[str, Any]]:
        """All blocks of the latest revision, following `page_token` pages."""
        return [b async for b in self._paginate(
            "docx.document_block.list", "/open-apis/docx/v1/documents/:document_id/blocks",
            {"document_id": document_id}, {"page_size": page_size, "document_revision_id": -1}, chat_key="docx")]

    async def get_wiki_node(self, token: str) -> dict[str, Any]:
        data = await self.call("wiki.space.get_node", HttpMethod.GET, "/open-apis/wiki/v2/spaces/get_node",
                               queries={"token": token})
        return data["node"]

    async def list_wiki_nodes(self, space_id: str, parent_node_token: str = "") -> list[dict[str, Any]]:
        queries: dict[str, Any] = {"page_size": 50}
        if parent_node_token:
            queries["parent_node_token"] = parent_node_token
        return [n async for n in self._paginate(
            "wiki.space_node.list", "/open-apis/wiki/v2/spaces/:space_id/nodes", {"space_id": space_id}, queries)]

    async def subscribe_file(self, file_token: str, file_type: str = "docx") -> None:
        await self.call("drive.file.subscribe", HttpMethod.POST, "/open-apis/drive/v1/files/:file_token/subscribe",
                        paths={"file_token": file_token}, queries={"file_type": file_type})

    async def unsubscribe_file(self, file_token: str, file_type: str = "docx") -> None:
        await self.call("drive.file.delete_subscribe", HttpMethod.DELETE,
                        "/open-apis/drive/v1/files/:file_token/delete_subscribe",
                        paths={"file_token": file_token}, queries={"file_type": file_type})

    async def bot_open_id(self) -> str:
        if not self._bot_open_id:
            data = await self.call("bot.info", HttpMethod.GET, "/open-apis/bot/v3/info", envelope_key="bot")
            self._bot_open_id = str(data.get("open_id", ""))
        return self._bot_open_id

    # -- the one call path -------------------------------------------------------------------------

    async def call(
        self, api: str, method: HttpMethod, uri: str, *, paths: dict[str, str] | None = None,
        queries: dict[str, Any] | None = None, body: Any = None, chat_key: str = "", envelope_key: str = "data",
    ) -> dict[str, Any]:
        """Call one API; retries rate limits after the server's reset, 5xx with backoff, a stale token once."""
        attempt = 0
        while True:
            attempt += 1
            if chat_key:
                await self._chat_limiter.wait(chat_key)
            await self._app_limiter.wait("app")
            started = time.perf_counter()
            try:
                status, headers, payload = await self._request(method, uri, paths, queries, body)
            except FeishuAPIError:
                raise
            except Exception as exc:  # network errors: retry (uuids make sends idempotent)
                FEISHU_CALLS.labels(api, "network_error").inc()
                if attempt > self._max_retries:
                    raise FeishuAPIError(api, -1, f"network error: {exc}") from exc
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))
                continue
            finally:
                FEISHU_LATENCY.labels(api).observe(time.perf_counter() - started)
            code = int(payload.get("code", -1)) if isinstance(payload, dict) else -1
            if code == 0 and status < 400:
                FEISHU_CALLS.labels(api, "ok").inc()
                return payload.get(envelope_key) or {}
            error = FeishuAPIError(api, code, str(payload.get("msg", "")) if isinstance(payload, dict) else "",
                                   log_id=headers.get("x-tt-logid", ""), http_status=status)
            FEISHU_CALLS.labels(api, str(code)).inc()
            if attempt > self._max_retries:
                if code in (RATE_LIMITED, CHAT_RATE_LIMITED) or status == 429:
                    raise FeishuRateLimited(api, code, error.msg, error.log_id, status)
                raise error
            if code == RATE_LIMITED or status == 429 or code == CHAT_RATE_LIMITED:
                wait = _reset_seconds(headers, default=1.0)
                log.warning("feishu.rate_limited", api=api, wait_s=wait, log_id=error.log_id)
                self._chat_limiter.push_back(chat_key or "app", wait)
                await asyncio.sleep(wait)
                continue
            if code in (TOKEN_INVALID, TOKEN_MISSING) and attempt == 1:
                _forget_token(self.app_id)
                continue
            if status >= 500:
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))
                continue
            raise error

    async def _request(self, method: HttpMethod, uri: str, paths: dict[str, str] | None,
                       queries: dict[str, Any] | None, body: Any) -> tuple[int, dict[str, str], Any]:
        token = await self._tenant_token()
        request = (
            lark.BaseRequest.builder().http_method(method).uri(uri)
            .token_types({AccessTokenType.TENANT}).paths(paths or {})
            .queries([(k, str(v)) for k, v in (queries or {}).items()])
            .body(body).build()
        )
        option = lark.RequestOption.builder().tenant_access_token(token).build()
        status, headers, content = await self._transport.execute(self._sdk.config, request, option)
        try:
            payload = json.loads(content or b"{}")
        except ValueError:
            payload = {"code": -1, "msg": f"non-JSON answer (HTTP {status})"}
        return status, headers, payload

    async def _tenant_token(self) -> str:
        token = TokenManager.cache.get(_token_cache_key(self.app_id))
        if token:
            return token
        async with self._token_lock:
            # The SDK fetches tokens with blocking `requests`: run it in a thread, never on the loop.
            try:
                return await asyncio.to_thread(TokenManager.get_self_tenant_token, self._sdk.config)
            except Exception as exc:
                code = getattr(exc, "code", -1)
                raise FeishuAPIError("auth.tenant_access_token", int(code or -1), str(exc)) from exc

    async def _paginate(self, api: str, uri: str, paths: dict[str, str], queries: dict[str, Any],
                        chat_key: str = "") -> AsyncIterator[dict[str, Any]]:
        page_token = ""
        while True:
            q = dict(queries)
            if page_token:
                q["page_token"] = page_token
            data = await self.call(api, HttpMethod.GET, uri, paths=paths, queries=q, chat_key=chat_key)
            for item in data.get("items") or []:
                yield item
            page_token = str(data.get("page_token") or "")
            if not data.get("has_more") or not page_token:
                return


def _content(content: dict[str, Any] | str) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _reset_seconds(headers: dict[str, str], default: float) -> float:
    try:
        return min(max(float(headers.get("x-ogw-ratelimit-reset", default)), 0.0), _MAX_RESET_WAIT_S)
    except ValueError:
        return default


def _token_cache_key(app_id: str) -> str:
    return f"self_tenant_token:{app_id}"


def _forget_token(app_id: str) -> None:
    TokenManager.cache.set(_token_cache_key(app_id), "", 0)
