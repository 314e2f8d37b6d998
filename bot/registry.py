"""One registry from Feishu event type to handler; registering a type twice is an error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from feishu.events import FeishuEvent

EventHandler = Callable[[FeishuEvent], Awaitable[None]]
# Inline callbacks (card.action.trigger) answer within Feishu's 3 s with a toast and/or card body.
CallbackHandler = Callable[[FeishuEvent], Awaitable[dict[str, Any]]]


class DuplicateHandlerError(ValueError):
    pass


class HandlerRegistry:
    def __init__(self) -> None:
        self._events: dict[str, EventHandler] = {}
        self._callbacks: dict[str, CallbackHandler] = {}

    def add_event(self, event_type: str, handler: EventHandler) -> None:
        if event_type in self._events or event_type in self._callbacks:
            raise DuplicateHandlerError(f"a handler for {event_type!r} is already registered")
        self._events[event_type] = handler

    def add_callback(self, event_type: str, handler: CallbackHandler) -> None:
        if event_type in self._events or event_type in self._callbacks:
            raise DuplicateHandlerError(f"a handler for {event_type!r} is already registered")
        self._callbacks[event_type] = handler

    def on(self, event_type: str) -> Callable[[EventHandler], EventHandler]:
        def decorate(handler: EventHandler) -> EventHandler:
            self.add_event(event_type, handler)
            return handler

        return decorate

    def on_callback(self, event_type: str) -> Callable[[CallbackHandler], CallbackHandler]:
        def decorate(handler: CallbackHandler) -> CallbackHandler:
            self.add_callback(event_type, handler)
            return handler

        return decorate

    def event_handler(self, event_type: str) -> EventHandler | None:
        return self._events.get(event_type)

    def callback_handler(self, event_type: str) -> CallbackHandler | None:
        return self._callbacks.get(event_type)

    def knows(self, event_type: str) -> bool:
        return event_type in self._events or event_type in self._callbacks

    @property
    def event_types(self) -> list[str]:
        return sorted(self._events) + sorted(self._callbacks)
