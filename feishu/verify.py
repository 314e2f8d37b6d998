"""Verifies and decrypts Feishu callbacks through lark-oapi before anything else sees them."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import lark_oapi as lark

from feishu.safe_json import DEFAULT_MAX_DEPTH, JsonRejected, loads_bounded

# Callback event types answered inline (the response body carries toast/card) instead of queued.
INLINE_CALLBACK_TYPES = frozenset({"card.action.trigger"})


class CallbackRejected(Exception):
    """A callback that must not reach a handler; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class VerifiedCallback:
    kind: str  # "challenge" | "event"
    payload: dict[str, Any]
    event_id: str = ""
    event_type: str = ""
    challenge: str = ""


class _SdkCrypto(lark.EventDispatcherHandler):
    """Exposes the SDK's own decrypt, token and signature checks (so AES is never re-implemented)."""

    def __init__(self, encrypt_key: str, verification_token: str) -> None:
        super().__init__()
        self._encrypt_key = encrypt_key
        self._verification_token = verification_token

    def decrypt(self, body: bytes) -> str:
        return self._decrypt(body, self._encrypt_key)

    def check_token(self, token: Any) -> None:
        self._verify_token(token, self._verification_token)

    def check_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        raw = lark.RawRequest()
        raw.headers = {
            name: headers.get(name, "")
            for name in ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature")
        }
        raw.body = body
        self._verify_sign(raw, self._encrypt_key)


class CallbackVerifier:
    """Signature, freshness, decryption and token checks, in the order Feishu documents them."""

    def __init__(
        self,
        verification_token: str,
        encrypt_key: str,
        max_skew_s: int = 300,
        clock: Callable[[], float] = time.time,
        *,
        max_body_bytes: int = 1024 * 1024,
        max_json_depth: int = DEFAULT_MAX_DEPTH,
    ) -> None:
        self._crypto = _SdkCrypto(encrypt_key, verification_token)
        self._encrypt_key = encrypt_key
        self._verification_token = verification_token
        self._max_skew_s = max_skew_s
        self._clock = clock
        self._max_body_bytes = max_body_bytes
        self._max_json_depth = max_json_depth

    def _loads(self, raw: bytes | str, what: str) -> dict[str, Any]:
        try:
            value = loads_bounded(raw, max_bytes=self._max_body_bytes, max_depth=self._max_json_depth)
        except JsonRejected as exc:
            raise CallbackRejected(exc.status, f"{what}: {exc.reason}") from None
        if not isinstance(value, dict):
            raise CallbackRejected(400, f"{what} must be a JSON object")
        return value

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedCallback:
        outer = self._loads(body, "body")

        signed = bool(headers.get("X-Lark-Signature"))
        if self._encrypt_key and signed:
            self._check_fresh(headers)
            try:
                self._crypto.check_signature(headers, body)
            except Exception as exc:
                raise CallbackRejected(401, "signature verification failed") from exc

        payload = self._decrypt(outer, body)
        kind = payload.get("type")
        if kind == "url_verification":
            self._check_token(payload.get("token"))
            return VerifiedCallback(kind="challenge", payload=payload, challenge=str(payload.get("challenge", "")))

        if self._encrypt_key and not signed:
            raise CallbackRejected(401, "missing X-Lark-Signature")
        if not signed and headers.get("X-Lark-Request-Timestamp"):
            self._check_fresh(headers)
        header = payload.get("header")
        if isinstance(header, dict):  # schema 2.0
            self._check_token(header.get("token"))
            return VerifiedCallback(
                kind="event",
                payload=payload,
                event_id=str(header.get("event_id") or ""),
                event_type=str(header.get("event_type") or ""),
            )
        if payload.get("uuid") and isinstance(payload.get("event"), dict):  # schema 1.0
            self._check_token(payload.get("token"))
            return VerifiedCallback(
                kind="event",
                payload=payload,
                event_id=str(payload["uuid"]),
                event_type=str(payload["event"].get("type") or ""),
            )
        raise CallbackRejected(400, "not a Feishu event envelope")

    def _decrypt(self, outer: dict[str, Any], body: bytes) -> dict[str, Any]:
        if "encrypt" not in outer:
            return outer
        if not self._encrypt_key:
            raise CallbackRejected(400, "encrypted body but no FEISHU_ENCRYPT_KEY configured")
        try:
            plain = self._crypto.decrypt(body)
        except Exception as exc:
            raise CallbackRejected(400, "cannot decrypt body") from exc
        return self._loads(plain, "decrypted body")

    def _check_token(self, token: Any) -> None:
        if not self._verification_token:
            return
        try:
            self._crypto.check_token(token)
        except Exception as exc:
            raise CallbackRejected(403, "verification token mismatch") from exc

    def _check_fresh(self, headers: Mapping[str, str]) -> None:
        raw = headers.get("X-Lark-Request-Timestamp", "")
        try:
            ts = int(raw)
        except ValueError as exc:
            raise CallbackRejected(401, "missing or invalid X-Lark-Request-Timestamp") from exc
        if abs(self._clock() - ts) > self._max_skew_s:
            raise CallbackRejected(401, f"stale timestamp (more than {self._max_skew_s}s off)")
