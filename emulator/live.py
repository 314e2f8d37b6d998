"""The simulator page's live feed: the emulator's state as Server-Sent Events, a snapshot then each change.

Read-only on purpose: the page reads state here and acts only through the control API and the Open API,
so whatever the page does a script can do too. Each change is serialized once and queued to every
subscriber; one that falls behind is dropped, and its EventSource reconnects to a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from config.settings import EmulatorDefaults
from emulator import docs
from emulator.state import Chat, EmulatorState, Message
from emulator.views import control_message

if TYPE_CHECKING:
    from emulator.service import EmulatorService

QUEUE_LIMIT = 2000  # events a subscriber may lag behind before it is dropped
HEARTBEAT_S = 15.0  # an SSE comment keeps proxies and the browser from timing the stream out
SNAPSHOT_MESSAGES_PER_CHAT = 300


def chat_view(state: EmulatorState, chat: Chat) -> dict:
    return {
        "chat_id": chat.chat_id,
        "chat_type": chat.chat_type,
        "name": chat.name,
        "p2p_open_id": chat.p2p_open_id,
        "members": sorted(chat.members),
        "member_names": {m: state.users[m].name for m in sorted(chat.members) if m in state.users},
        "message_count": len(chat.message_ids),
    }


def doc_view(state: EmulatorState, document_id: str) -> dict:
    """A document as the blocks API lists it (document order), plus what the docs pane shows about it."""
    doc = state.documents.get(document_id)
    if doc is None:
        return {"document_id": document_id, "deleted": True}
    return {
        "document_id": doc.document_id,
        "title": doc.title,
        "revision_id": doc.revision_id,
        "trashed": doc.trashed,
        "subscribed": document_id in state.subscriptions,
        "edited_at": doc.edited_at,
        "blocks": docs.ordered_blocks(doc.blocks, doc.document_id),
    }


def message_event(state: EmulatorState, msg: Message) -> dict:
    sender = state.users.get(msg.sender_id)
    return {"message": control_message(state, msg), "sender_name": sender.name if sender else None}


class LiveFeed:
    def __init__(self, service: EmulatorService) -> None:
        self._service = service
        self._subscribers: set[asyncio.Queue[str | None]] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    # what changed (called by the service and the routes; free when nobody watches)

    def message_changed(self, msg: Message) -> None:
        if self._subscribers and not msg.deleted:
            state = self._service.state
            chat = state.chats.get(msg.chat_id)
            if chat is not None:
                self._publish("chat", chat_view(state, chat))
            self._publish("message", message_event(state, msg))

    def card_changed(self, card_id: str) -> None:
        """A CardKit entity changed: every message that shows it shows the new state."""
        if self._subscribers:
            for msg in list(self._service.state.messages.values()):
                if msg.card_id == card_id:
                    self.message_changed(msg)

    def chat_changed(self, chat: Chat) -> None:
        if self._subscribers:
            self._publish("chat", chat_view(self._service.state, chat))

    def doc_changed(self, document_id: str) -> None:
        if self._subscribers:
            self._publish("doc", doc_view(self._service.state, document_id))

    def reset(self) -> None:
        if self._subscribers:
            self._publish("snapshot", self.snapshot())

    # the feed

    def snapshot(self) -> dict:
        service = self._service
        state, config = service.state, service.config
        messages: list[dict] = []
        for chat in state.chats.values():
            for message_id in chat.message_ids[-SNAPSHOT_MESSAGES_PER_CHAT:]:
                msg = state.messages[message_id]
                if not msg.deleted:
                    messages.append(control_message(state, msg))
        return {
            "config": {
                "app_id": config.app_id,
                "bot_open_id": config.bot_open_id,
                "bot_name": config.bot_name,
                "receive_all_group_messages": config.receive_all_group_messages,
            },
            # What `larkdesk serve` wires the bot to when it starts this emulator: hints for the page only.
            "defaults": {"agent_chat_id": EmulatorDefaults.agent_chat_id,
                         "admin_open_id": EmulatorDefaults.admin_open_id},
            "users": {u.open_id: u.name for u in state.users.values()},
            "chats": [chat_view(state, c) for c in state.chats.values()],
            "messages": messages,
            "docs": [doc_view(state, d) for d in state.documents],
        }

    def _publish(self, kind: str, data: Any) -> None:
        frame = _frame(kind, data)
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._drop(queue)

    def _drop(self, queue: asyncio.Queue[str | None]) -> None:
        self._subscribers.discard(queue)
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                queue.get_nowait()
        queue.put_nowait(None)  # ends that stream; the browser reconnects to a fresh snapshot

    async def close(self) -> None:
        """End every stream (at shutdown: open streams would hold the server's graceful stop)."""
        for queue in list(self._subscribers):
            self._drop(queue)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        queue: asyncio.Queue[str | None] = asyncio.Queue(QUEUE_LIMIT)
        self._subscribers.add(queue)
        try:
            await resp.write(("retry: 1000\n" + _frame("snapshot", self.snapshot())).encode())
            while True:
                try:
                    frame = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    frame = ": ping\n\n"
                if frame is None:
                    break
                await resp.write(frame.encode())
        except ConnectionResetError:
            pass  # the page went away
        finally:
            self._subscribers.discard(queue)
        return resp


def _frame(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
