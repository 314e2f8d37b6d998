"""`card.action.trigger`: routes a click by its `value.action` to the handler registered for that action."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from bot.intake import toast
from feishu.events import FeishuEvent

log = structlog.get_logger("bot.cards")

CardAction = Callable[[FeishuEvent, dict[str, Any]], Awaitable[dict[str, Any]]]


class CardActionRouter:
    def __init__(self) -> None:
        self._actions: dict[str, CardAction] = {}

    def add(self, action: str, handler: CardAction) -> None:
        if action in self._actions:
            raise ValueError(f"card action {action!r} already registered")
        self._actions[action] = handler

    async def __call__(self, event: FeishuEvent) -> dict[str, Any]:
        value = (event.event.get("action") or {}).get("value")
        action = value.get("action") if isinstance(value, dict) else None
        handler = self._actions.get(str(action))
        if handler is None:
            log.warning("cards.unknown_action", action=action)
            return toast("warning", "该按钮已失效 / This button is no longer active")
        return await handler(event, value)
