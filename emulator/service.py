"""What a user, an editor or a tester does on the emulated Feishu (in-process API; the control routes wrap it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import structlog

from emulator import cards, docs, ids
from emulator.config import EmulatorConfig
from emulator.delivery import Deliverer
from emulator.faults import Fault, FaultSet, RateLimiter
from emulator.live import LiveFeed
from emulator.longconn import LongConnHub
from emulator.state import CallbackToken, Chat, EmulatorState, Message, WikiNode, WikiSpace
from emulator.views import control_message

log = structlog.get_logger("emulator")


class EmulatorError(ValueError):
    """A control operation that cannot be done (unknown id, bad input)."""

    def __init__(self, msg: str, status: int = 400):
        super().__init__(msg)
        self.status = status


class EmulatorService:
    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = EmulatorState()
        self.faults = FaultSet()
        self.limiter = RateLimiter()
        self.deliverer = Deliverer(self.config, self.state)
        self.longconn = LongConnHub(self.config)
        self.deliverer.longconn = self.longconn
        self.live = LiveFeed(self)
        self._default_group_id: str | None = None
        self._message_waiters: list[asyncio.Event] = []

    # bookkeeping

    async def reset(self) -> None:
        """Forget everything (chats, docs, logs, faults); the config stays."""
        await self.deliverer.cancel_pending()
        self.state = EmulatorState()
        self.deliverer.state = self.state
        self.faults.clear()
        self.limiter.clear()
        self._default_group_id = None
        self.live.reset()

    def notify_message(self, msg: Message | None = None, *, card_id: str | None = None) -> None:
        """A message was stored or changed (or the CardKit card some messages show): wake waiters, tell the page."""
        for ev in self._message_waiters:
            ev.set()
        if msg is not None:
            self.live.message_changed(msg)
        if card_id is not None:
            self.live.card_changed(card_id)

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        """Wait until all queued deliveries and scheduled retries are done."""
        await self.deliverer.wait_idle(timeout_s)

    async def wait_for_message(self, predicate: Callable[[dict], bool], timeout_s: float = 5.0) -> dict:
        """Wait for a stored message (control view) matching predicate; checks existing ones first."""
        ev = asyncio.Event()
        self._message_waiters.append(ev)
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    ev.clear()
                    for msg in list(self.state.messages.values()):
                        view = control_message(self.state, msg)
                        if predicate(view):
                            return view
                    await ev.wait()
        finally:
            self._message_waiters.remove(ev)

    # chats

    def create_group(
        self,
        chat_id: str | None = None,
        name: str = "",
        members: list[str] | None = None,
        names: dict[str, str] | list[str] | None = None,
    ) -> dict:
        """A group chat (created or extended); `names` gives members' display names (open_id -> name)."""
        self._name_users(list(members or []), names)
        chat = self.state.group_chat(chat_id, name, set(members or []))
        self.live.chat_changed(chat)
        return self._chat_view(chat)

    def add_chat_members(
        self, chat_id: str, open_ids: list[str], names: dict[str, str] | list[str] | None = None
    ) -> dict:
        """Users join a group chat (the emulator sends no member events: the bot does not need them)."""
        chat = self._group(chat_id)
        if not isinstance(open_ids, list) or not all(isinstance(o, str) and o.startswith("ou_") for o in open_ids):
            raise EmulatorError("open_ids must be a list of open_ids (ou_...)")
        self._name_users(open_ids, names)
        chat.members |= set(open_ids)
        self.live.chat_changed(chat)
        return self._chat_view(chat)

    def remove_chat_member(self, chat_id: str, open_id: str) -> dict:
        chat = self._group(chat_id)
        if open_id not in chat.members:
            raise EmulatorError(f"{open_id} is not a member of {chat_id}", 404)
        chat.members.discard(open_id)
        self.live.chat_changed(chat)
        return self._chat_view(chat)

    def _group(self, chat_id: str) -> Chat:
        chat = self.state.chats.get(chat_id)
        if chat is None:
            raise EmulatorError(f"chat {chat_id} not found", 404)
        if chat.chat_type != "group":
            raise EmulatorError(f"chat {chat_id} is a p2p chat: its members are fixed")
        return chat

    def _name_users(self, open_ids: list[str], names: dict[str, str] | list[str] | None) -> None:
        """Create the users, with the given names (a mapping, or a list parallel to open_ids)."""
        if isinstance(names, list):
            if len(names) != len(open_ids):
                raise EmulatorError("names must have one name per open_id")
            names = dict(zip(open_ids, names, strict=True))
        elif names is not None and not isinstance(names, dict):
            raise EmulatorError("names must be an object (open_id -> name) or a list")
        for open_id in open_ids:
            if open_id != self.config.bot_open_id:
                self.state.user(open_id, (names or {}).get(open_id))

    def _chat_view(self, chat: Chat) -> dict:
        return {
            "chat_id": chat.chat_id,
            "chat_type": chat.chat_type,
            "name": chat.name,
            "p2p_open_id": chat.p2p_open_id,
            "members": sorted(chat.members),
            "member_names": {m: self.state.users[m].name for m in sorted(chat.members) if m in self.state.users},
            "message_count": len(chat.message_ids),
        }

    def chats(self) -> list[dict]:
        return [self._chat_view(c) for c in self.state.chats.values()]

    def chat_messages(self, chat_id: str) -> list[dict]:
        chat = self.state.chats.get(chat_id)
        if chat is None:
            raise EmulatorError(f"chat {chat_id} not found", 404)
        return [control_message(self.state, self.state.messages[m]) for m in chat.message_ids]

    def message(self, message_id: str) -> dict:
        msg = self.state.messages.get(message_id)
        if msg is None:
            raise EmulatorError(f"message {message_id} not found", 404)
        return control_message(self.state, msg)

    def bot_messages(self, chat_id: str | None = None) -> list[dict]:
        return [
            control_message(self.state, m)
            for m in self.state.messages.values()
            if m.sender_type == "app" and (chat_id is None or m.chat_id == chat_id)
        ]

    # user actions

    async def send_user_message(
        self,
        open_id: str,
        text: str | None = None,
        *,
        chat_type: str = "p2p",
        chat_id: str | None = None,
        mention_bot: bool = False,
        root_id: str | None = None,
        parent_id: str | None = None,
        message_type: str = "text",
        content: dict | None = None,
        mentions: list[str] | None = None,
        user_name: str | None = None,
        wait: bool = False,
    ) -> dict:
        """A user posts a message; delivers im.message.receive_v1. Returns message_id, event_id, chat_id."""
        if chat_type not in ("p2p", "group"):
            raise EmulatorError("chat_type must be p2p or group")
        user = self.state.user(open_id, user_name)
        if chat_type == "p2p":
            chat = self.state.p2p_chat(open_id)
        else:
            if chat_id is None:
                if self._default_group_id is None:
                    self._default_group_id = self.state.group_chat(name="larkdesk test group").chat_id
                chat_id = self._default_group_id
            chat = self.state.group_chat(chat_id, members={open_id, self.config.bot_open_id})
        if chat_id and chat.chat_id != chat_id:
            raise EmulatorError(f"{chat_id} is not the p2p chat of {open_id}")
        mention_list: list[dict] = []
        if message_type == "text" and content is None:
            prefix = []
            if mention_bot:
                mention_list.append(self._mention(len(mention_list) + 1, self.config.bot_open_id, self.config.bot_name))
                prefix.append(mention_list[-1]["key"])
            for other in mentions or []:
                u = self.state.user(other)
                mention_list.append(self._mention(len(mention_list) + 1, u.open_id, u.name, u))
                prefix.append(mention_list[-1]["key"])
            body = " ".join([*prefix, text or ""]) if prefix else (text or "")
            content = {"text": body}
        elif content is None:
            raise EmulatorError(f"message_type {message_type} needs content")
        elif mention_bot:
            mention_list.append(self._mention(1, self.config.bot_open_id, self.config.bot_name))

        parent_ref = parent_id or root_id
        root = thread = None
        if parent_ref:
            parent = self.state.messages.get(parent_ref)
            if parent is None or parent.chat_id != chat.chat_id:
                raise EmulatorError(f"message {parent_ref} not found in chat {chat.chat_id}")
            root = parent.root_id or parent.message_id
            thread = parent.thread_id
        now = ids.now_ms()
        msg = Message(
            message_id=ids.message_id(),
            chat_id=chat.chat_id,
            msg_type=message_type,
            content=json.dumps(content, ensure_ascii=False),
            sender_type="user",
            sender_id=open_id,
            create_time=now,
            update_time=now,
            root_id=root,
            parent_id=parent_ref if parent_ref else None,
            thread_id=thread,
            mentions=mention_list,
        )
        self.state.add_message(msg)
        self.notify_message(msg)
        event_message: dict[str, Any] = {"message_id": msg.message_id}
        if root:
            event_message["root_id"] = root
            event_message["parent_id"] = msg.parent_id
        event_message.update({"create_time": str(now), "update_time": str(now), "chat_id": chat.chat_id})
        if thread:
            event_message["thread_id"] = thread
        event_message.update({"chat_type": chat.chat_type, "message_type": message_type, "content": msg.content})
        if mention_list:
            event_message["mentions"] = mention_list
        event = {
            "sender": {"sender_id": user.id_obj(), "sender_type": "user", "tenant_key": self.config.tenant_key},
            "message": event_message,
        }
        result = {"message_id": msg.message_id, "chat_id": chat.chat_id, "event_id": None}
        if chat.chat_type == "group" and not mention_list and not self.config.receive_all_group_messages:
            return result  # the app only has im:message.group_at_msg
        env = self.deliverer.envelope("im.message.receive_v1", event, create_time=str(now))
        result["event_id"] = env["header"]["event_id"]
        fut = self.deliverer.dispatch([env], wait=wait)
        if fut is not None:
            records = await fut
            result["deliveries"] = [r.to_dict() for r in records]
        return result

    def _mention(self, n: int, open_id: str, name: str, user: Any = None) -> dict:
        user = user or self.state.user(open_id, name)
        return {
            "key": f"@_user_{n}",
            "id": {"union_id": user.union_id, "user_id": user.user_id, "open_id": open_id},
            "name": name,
            "tenant_key": self.config.tenant_key,
        }

    async def send_event(self, event_type: str, event: dict, *, header: dict | None = None, wait: bool = False) -> dict:
        """Deliver any event (unknown types included) in a schema 2.0 envelope."""
        env = self.deliverer.envelope(event_type, event, header=header)
        fut = self.deliverer.dispatch([env], wait=wait)
        out: dict[str, Any] = {"event_id": env["header"]["event_id"]}
        if fut is not None:
            out["deliveries"] = [r.to_dict() for r in await fut]
        return out

    async def send_events(self, events: list[dict], *, wait: bool = False) -> dict:
        """Deliver several events as one batch (subject to reorder). Each item: {event_type, event, header?}."""
        envs = [self.deliverer.envelope(e["event_type"], e.get("event", {}), header=e.get("header")) for e in events]
        fut = self.deliverer.dispatch(envs, wait=wait)
        out: dict[str, Any] = {"event_ids": [e["header"]["event_id"] for e in envs]}
        if fut is not None:
            out["deliveries"] = [r.to_dict() for r in await fut]
        return out

    async def send_raw(self, payload: dict, *, wait: bool = False) -> dict:
        """Deliver an arbitrary body (e.g. a schema 1.0 event) as is, encrypted and signed."""
        fut = self.deliverer.dispatch([payload], wait=wait)
        return {"deliveries": [r.to_dict() for r in await fut]} if fut is not None else {}

    async def url_verification(self, challenge: str | None = None) -> dict:
        return await self.deliverer.url_verification(challenge)

    async def send_menu_event(self, open_id: str, event_key: str, *, wait: bool = False) -> dict:
        user = self.state.user(open_id)
        event = {
            "operator": {"operator_name": user.name, "operator_id": user.id_obj()},
            "event_key": event_key,
            "timestamp": str(int(time.time())),
        }
        return await self.send_event("application.bot.menu_v6", event, wait=wait)

    async def enter_p2p_chat(self, open_id: str, *, user_name: str | None = None, wait: bool = False) -> dict:
        user = self.state.user(open_id, user_name)
        chat = self.state.p2p_chat(open_id)
        self.live.chat_changed(chat)
        event: dict[str, Any] = {"chat_id": chat.chat_id, "operator_id": user.id_obj()}
        if chat.message_ids:
            last = self.state.messages[chat.message_ids[-1]]
            event["last_message_id"] = last.message_id
            event["last_message_create_time"] = str(last.create_time)
        out = await self.send_event("im.chat.access_event.bot_p2p_chat_entered_v1", event, wait=wait)
        out["chat_id"] = chat.chat_id
        return out

    async def click_card(
        self,
        message_id: str,
        open_id: str,
        value: Any = None,
        *,
        form_value: dict | None = None,
        tag: str | None = None,
        name: str | None = None,
        strict: bool = True,
        option: str | None = None,
        options: list[str] | None = None,
    ) -> dict:
        """A user clicks an interactive element of a card message; delivers card.action.trigger (no retry).

        `option` / `options`: what a select or overflow outside a form chose (Feishu's action.option(s)).
        `strict=False` delivers even when the card no longer shows that element, as a client showing a
        stale card does (two agents clicking Claim at once).
        """
        if options is not None and not isinstance(options, list):
            raise EmulatorError("options must be a list")
        msg = self.state.messages.get(message_id)
        if msg is None:
            raise EmulatorError(f"message {message_id} not found", 404)
        if msg.msg_type != "interactive":
            raise EmulatorError(f"message {message_id} is not a card")
        card = json.loads(self.state.message_content(msg))
        element = None
        candidates = cards.callback_values(card)
        for el, v in candidates:
            if v == value or (name and el.get("name") == name) or (name and el.get("element_id") == name):
                element = el
                value = v if value is None else value
                break
        if element is None and strict:
            raise EmulatorError(
                f"no interactive element with value {value!r} in the card (values: {[v for _, v in candidates]})"
            )
        user = self.state.user(open_id)
        token = ids.callback_token()
        self.state.callback_tokens[token] = CallbackToken(token, message_id, time.time())
        action: dict[str, Any] = {
            "value": value if value is not None else {},
            "tag": tag or (element or {}).get("tag", "button"),
        }
        el_name = name or (element or {}).get("name") or (element or {}).get("element_id")
        if el_name:
            action["name"] = el_name
        if form_value is not None:
            action["form_value"] = form_value
        if option is not None:
            action["option"] = str(option)
        if options is not None:
            action["options"] = [str(o) for o in options]
        action["timezone"] = "Asia/Shanghai"
        event = {
            "operator": {"tenant_key": self.config.tenant_key, **user.id_obj()},
            "token": token,
            "action": action,
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": msg.chat_id},
        }
        unit = 1_000_000 if self.config.card_create_time_unit == "us" else 1000
        env = self.deliverer.envelope("card.action.trigger", event, create_time=str(int(time.time() * unit)))
        rec = await self.deliverer.card_callback(env)
        result: dict[str, Any] = {
            "event_id": rec.event_id,
            "token": token,
            "status": rec.status,
            "latency_ms": rec.latency_ms,
            "error": rec.error,
            "toast": None,
            "card": None,
            "applied": False,
            "response": rec.response_body,
        }
        body = rec.response_body
        if rec.status == 200 and isinstance(body, dict):
            result["toast"] = body.get("toast")
            result["card"] = body.get("card")
            if body.get("card") is not None:
                try:
                    self.apply_card_response(msg, body["card"], original=card)
                    result["applied"] = True
                except cards.CardError as exc:
                    result["error"] = f"card not applied: {exc}"
        return result

    def apply_card_response(self, msg: Message, response_card: Any, original: dict | None = None) -> None:
        """Replace a message's card with a card returned by a callback or a delayed update."""
        if not isinstance(response_card, dict):
            raise cards.CardError("card must be an object")
        if response_card.get("type") == "template":
            data = response_card.get("data")
            if not isinstance(data, dict) or not data.get("template_id"):
                raise cards.CardError("template card needs data.template_id")
            new = response_card
        else:
            new = response_card.get("data") if response_card.get("type") == "raw" else response_card
            cards.validate_card(new)
            if (
                original is not None
                and original.get("type") != "template"
                and (cards.is_v2(original) != cards.is_v2(new))
            ):
                raise cards.CardError("the new card must use the same JSON version as the card sent")
        msg.content = json.dumps(new, ensure_ascii=False)
        msg.card_id = None
        msg.updated = True
        msg.update_time = ids.now_ms()
        self.notify_message(msg)

    # docs, wiki, drive

    def create_doc(self, title: str, blocks: list | None = None, *, owner_open_id: str | None = None,
                   document_id: str | None = None) -> dict:
        """`document_id`: a fixed id (a demo doc that must stay the same doc across restarts)."""
        if document_id and document_id in self.state.documents:
            raise EmulatorError(f"document {document_id} exists")
        try:
            doc = docs.new_document(title, blocks or [], owner_open_id or "", document_id)
        except docs.DocSpecError as exc:
            raise EmulatorError(str(exc)) from exc
        self.state.documents[doc.document_id] = doc
        self.live.doc_changed(doc.document_id)
        root = doc.blocks[doc.document_id]
        return {
            "document_id": doc.document_id,
            "revision_id": doc.revision_id,
            "block_ids": list(root.get("children", [])),
            "blocks": [
                {"block_id": b["block_id"], "block_type": b["block_type"], "text": docs.block_text(b)}
                for b in docs.ordered_blocks(doc.blocks, doc.document_id)
            ],
        }

    def _doc(self, document_id: str):
        doc = self.state.documents.get(document_id)
        if doc is None:
            raise EmulatorError(f"document {document_id} not found", 404)
        return doc

    async def edit_doc(
        self, document_id: str, ops: list, *, operator_open_id: str = "ou_editor", wait: bool = False
    ) -> dict:
        """Edit a document (update_text / insert / delete / set_title); notifies subscribers."""
        doc = self._doc(document_id)
        try:
            change = docs.apply_edits(doc, ops)
        except docs.DocSpecError as exc:
            raise EmulatorError(str(exc)) from exc
        self.live.doc_changed(document_id)
        operator = self.state.user(operator_open_id).id_obj()
        envs = []
        if document_id in self.state.subscriptions:
            ftype = self.state.subscriptions[document_id]
            envs.append(
                self.deliverer.envelope(
                    "drive.file.edit_v1",
                    {
                        "file_type": ftype,
                        "file_token": document_id,
                        "operator_id_list": [operator],
                        "subscriber_id_list": [],
                    },
                )
            )
            if change["title_changed"]:
                envs.append(
                    self.deliverer.envelope(
                        "drive.file.title_updated_v1",
                        {
                            "file_type": ftype,
                            "file_token": document_id,
                            "operator_id": operator,
                            "subscriber_id_list": [],
                        },
                    )
                )
        change["event_ids"] = [e["header"]["event_id"] for e in envs]
        if envs:
            fut = self.deliverer.dispatch(envs, wait=wait)
            if fut is not None:
                await fut
        return change

    async def trash_doc(self, document_id: str, *, operator_open_id: str = "ou_editor", wait: bool = False) -> dict:
        doc = self._doc(document_id)
        doc.trashed = True
        self.live.doc_changed(document_id)
        return await self._file_event("drive.file.trashed_v1", document_id, operator_open_id, wait)

    async def delete_doc(self, document_id: str, *, operator_open_id: str = "ou_editor", wait: bool = False) -> dict:
        self._doc(document_id)
        out = await self._file_event("drive.file.deleted_v1", document_id, operator_open_id, wait)
        del self.state.documents[document_id]
        self.state.deleted_documents.add(document_id)
        self.state.subscriptions.pop(document_id, None)
        self.live.doc_changed(document_id)
        return out

    async def _file_event(self, event_type: str, token: str, operator_open_id: str, wait: bool) -> dict:
        if token not in self.state.subscriptions:
            return {"event_ids": []}
        env = self.deliverer.envelope(
            event_type,
            {
                "file_type": self.state.subscriptions[token],
                "file_token": token,
                "operator_id": self.state.user(operator_open_id).id_obj(),
                "subscriber_id_list": [],
            },
        )
        fut = self.deliverer.dispatch([env], wait=wait)
        if fut is not None:
            await fut
        return {"event_ids": [env["header"]["event_id"]]}

    def create_wiki_space(self, name: str, space_id: str | None = None) -> dict:
        space = WikiSpace(space_id or ids.space_id(), name)
        self.state.wiki_spaces[space.space_id] = space
        return {"space_id": space.space_id, "name": name}

    def create_wiki_node(
        self,
        space_id: str,
        obj_token: str,
        *,
        title: str | None = None,
        parent_node_token: str = "",
        obj_type: str = "docx",
    ) -> dict:
        if space_id not in self.state.wiki_spaces:
            raise EmulatorError(f"wiki space {space_id} not found", 404)
        if parent_node_token and parent_node_token not in self.state.wiki_nodes:
            raise EmulatorError(f"wiki node {parent_node_token} not found", 404)
        doc = self.state.documents.get(obj_token)
        if title is None:
            title = doc.title if doc else ""
        node = WikiNode(ids.wiki_node_token(), space_id, obj_token, obj_type, title, parent_node_token)
        self.state.wiki_nodes[node.node_token] = node
        return {
            "node_token": node.node_token,
            "space_id": space_id,
            "obj_token": obj_token,
            "obj_type": obj_type,
            "title": title,
            "parent_node_token": parent_node_token,
        }

    # faults, delivery options, logs

    def add_fault(
        self,
        path_prefix: str,
        kind: str,
        count: int = 1,
        *,
        method: str | None = None,
        reset_s: float = 1.0,
        delay_s: float = 0.0,
        status: int | None = None,
    ) -> dict:
        try:
            return self.faults.add(
                Fault(path_prefix, kind, int(count), method, float(reset_s), float(delay_s), status)
            ).to_dict()
        except ValueError as exc:
            raise EmulatorError(str(exc)) from exc

    def clear_faults(self) -> None:
        self.faults.clear()

    def set_delivery(
        self,
        *,
        duplicates: int | None = None,
        reorder: bool | None = None,
        duplicate_new_event_id: bool | None = None,
        delay_s: float | None = None,
        retry_time_scale: float | None = None,
        event_callback_url: str | None = None,
        card_callback_url: str | None = None,
        concurrency: int | None = None,
        event_transport: str | None = None,
    ) -> dict:
        c = self.config
        if event_transport is not None:
            if event_transport not in ("auto", "websocket", "webhook"):
                raise EmulatorError("event_transport must be auto, websocket or webhook")
            c.event_transport = event_transport
        if concurrency is not None:
            if int(concurrency) < 1:
                raise EmulatorError("concurrency must be >= 1")
            c.delivery_concurrency = int(concurrency)
        if duplicates is not None:
            if int(duplicates) < 1:
                raise EmulatorError("duplicates must be >= 1")
            c.duplicates = int(duplicates)
        if reorder is not None:
            c.reorder = bool(reorder)
        if duplicate_new_event_id is not None:
            c.duplicate_new_event_id = bool(duplicate_new_event_id)
        if delay_s is not None:
            c.delay_s = max(0.0, float(delay_s))
        if retry_time_scale is not None:
            c.retry_time_scale = max(0.0, float(retry_time_scale))
        if event_callback_url is not None:
            c.event_callback_url = event_callback_url or None
        if card_callback_url is not None:
            c.card_callback_url = card_callback_url or None
        return self.delivery_settings()

    def delivery_settings(self) -> dict:
        c = self.config
        return {
            "duplicates": c.duplicates,
            "duplicate_new_event_id": c.duplicate_new_event_id,
            "reorder": c.reorder,
            "delay_s": c.delay_s,
            "retry_time_scale": c.retry_time_scale,
            "event_callback_url": c.event_callback_url,
            "card_callback_url": c.effective_card_callback_url,
            "concurrency": c.delivery_concurrency,
            "event_transport": c.event_transport,
            "longconn_clients": self.longconn.connected,
        }

    def requests(self, path_prefix: str = "", method: str | None = None) -> list[dict]:
        return [
            r.to_dict()
            for r in self.state.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
        ]

    def deliveries(self, event_type: str | None = None, kind: str | None = None) -> list[dict]:
        return [
            d.to_dict()
            for d in self.state.deliveries
            if (event_type is None or d.event_type == event_type) and (kind is None or d.kind == kind)
        ]

    def card_view(self, card_id: str) -> dict:
        card = self.state.cards.get(card_id)
        if card is None:
            raise EmulatorError(f"card {card_id} not found", 404)
        return {
            "card_id": card_id,
            "card": card.card,
            "sequence": card.sequence,
            "streaming_mode": card.streaming_mode,
            "text": cards.text_of(card.card),
            "history": card.history,
            "message_ids": [m.message_id for m in self.state.messages.values() if m.card_id == card_id],
        }
