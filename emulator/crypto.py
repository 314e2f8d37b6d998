"""Feishu event crypto (AES-256-CBC, signature) and stateless tenant tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode("utf-8")).digest()


def encrypt(plaintext: str | bytes, encrypt_key: str, iv: bytes | None = None) -> str:
    """base64(iv16 || AES-256-CBC(PKCS7(plaintext))) with key SHA256(encrypt_key)."""
    data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    iv = iv or os.urandom(16)
    cipher = AES.new(_key(encrypt_key), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(pad(data, AES.block_size))).decode("ascii")


def decrypt(value: str, encrypt_key: str) -> str:
    raw = base64.b64decode(value)
    cipher = AES.new(_key(encrypt_key), AES.MODE_CBC, raw[:16])
    return unpad(cipher.decrypt(raw[16:]), AES.block_size).decode("utf-8")


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """hex(sha256(timestamp + nonce + encrypt_key + body))."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()


# Tenant tokens: "t-" + 8 hex (issue time, s) + 32 hex HMAC(app_secret, app_id:issued). Verifiable by any
# emulator that knows the secret, so a restarted emulator accepts a token the SDK cached.


def issue_tenant_token(app_id: str, app_secret: str, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return "t-" + f"{issued:08x}" + _token_mac(app_id, app_secret, issued)


def verify_tenant_token(token: str, app_id: str, app_secret: str, ttl_s: int, now: float | None = None) -> bool:
    if not token.startswith("t-") or len(token) != 42:
        return False
    try:
        issued = int(token[2:10], 16)
    except ValueError:
        return False
    if not hmac.compare_digest(token[10:], _token_mac(app_id, app_secret, issued)):
        return False
    now = now if now is not None else time.time()
    return issued - 60 <= now < issued + ttl_s


def _token_mac(app_id: str, app_secret: str, issued: int) -> str:
    msg = f"{app_id}:{issued}".encode()
    return hmac.new(app_secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()[:32]
