"""Typed errors for Feishu API failures; every one carries code, msg and log_id."""

from __future__ import annotations

RATE_LIMITED = 99991400
TOKEN_MISSING = 99991661
TOKEN_INVALID = 99991663
CHAT_RATE_LIMITED = 230020
CARD_TOO_LARGE = 230025
BOT_NOT_IN_CHAT = 230002
CARDKIT_BAD_SEQUENCE = 300317
CARDKIT_STREAMING_CLOSED = 300309


class FeishuAPIError(Exception):
    def __init__(self, api: str, code: int, msg: str, log_id: str = "", http_status: int = 0) -> None:
        super().__init__(f"{api}: code={code} msg={msg} log_id={log_id}")
        self.api = api
        self.code = code
        self.msg = msg
        self.log_id = log_id
        self.http_status = http_status

    @property
    def retryable(self) -> bool:
        return self.code in (RATE_LIMITED, CHAT_RATE_LIMITED) or self.http_status >= 500


class FeishuRateLimited(FeishuAPIError):
    """Rate limited even after the configured retries."""
