"""structlog set-up: JSON in production, readable in a terminal; ids bound per request/event; masking."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from observability.masking import mask_value

_SECRET_KEYS = frozenset(
    {"app_secret", "secret", "password", "token", "tenant_access_token", "encrypt_key", "api_key",
     "authorization", "llm_api_key", "feishu_app_secret", "feishu_encrypt_key"}
)


def _mask_processor(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Hide secrets by key and mask personal numbers in every value."""
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "***"
        else:
            event_dict[key] = mask_value(event_dict[key])
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and route stdlib logging (aiohttp, apscheduler) through it."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _mask_processor,
    ]
    structlog.configure(
        # Level first: a line below LOG_LEVEL costs nothing (no timestamp, no masking regexes).
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The access log would print one line per Feishu callback; metrics cover that.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("Lark").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the SDK's per-request INFO lines


def bind_ids(**ids: str) -> None:
    """Bind request/event ids to every following log line in this task."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v})


def clear_ids() -> None:
    structlog.contextvars.clear_contextvars()
