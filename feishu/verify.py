"""Verifies and decrypts Feishu callbacks through lark-oapi before anything else sees them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import lark_oapi as lark

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
    ) -> None:
        self._crypto = _SdkCrypto(encrypt_key, verification_token)
        self._encrypt_key = encrypt_key
        self._verification_token = verification_token
        self._max_skew_s = max_skew_s
        self._clock = clock

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedCallback:
        try:
            outer = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CallbackRejected(400, "malformed JSON body") from exc
        if not isinstance(outer, dict):
            raise CallbackRejected(400, "JSON body must be an object")

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
            payload = json.loads(self._crypto.decrypt(body))
        except Exception as exc:
            raise CallbackRejected(400, "cannot decrypt body") from exc
        if not isinstance(payload, dict):
            raise CallbackRejected(400, "decrypted body is not a JSON object")
        return payload

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
