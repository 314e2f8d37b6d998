"""Everything the emulator knows: users, chats, messages, cards, docs, wiki, logs."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from emulator import ids


@dataclass
class User:
    open_id: str
    name: str
    user_id: str
    union_id: str
    email: str

    def id_obj(self) -> dict[str, str]:
        return {"union_id": self.union_id, "user_id": self.user_id, "open_id": self.open_id}


@dataclass
class Chat:
    chat_id: str
    chat_type: str  # "p2p" | "group"
    name: str = ""
    p2p_open_id: str | None = None
    members: set[str] = field(default_factory=set)
    message_ids: list[str] = field(default_factory=list)


@dataclass
class Message:
    message_id: str
    chat_id: str
    msg_type: str
    content: str  # JSON string as sent / received
    sender_type: str  # "user" | "app"
    sender_id: str  # open_id for users, app_id for the bot
    create_time: int  # ms
    update_time: int
    root_id: str | None = None
    parent_id: str | None = None
    thread_id: str | None = None
    uuid: str | None = None
    mentions: list[dict] = field(default_factory=list)
    card_id: str | None = None  # CardKit entity this message shows
    updated: bool = False
    deleted: bool = False


@dataclass
class Card:
    card_id: str
    card: dict
    created_at: float
    sequence: int = 0
    streaming_since: float | None = None  # when streaming_mode was last switched on
    uuids: set[str] = field(default_factory=set)
    op_times: list[float] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)  # every accepted op, for tests

    @property
    def config(self) -> dict:
        return self.card.setdefault("config", {})

    @property
    def streaming_mode(self) -> bool:
        return bool(self.config.get("streaming_mode"))


@dataclass
class CallbackToken:
    token: str
    message_id: str
    issued_at: float
    uses: int = 0


@dataclass
class Document:
    document_id: str
    title: str
    blocks: dict[str, dict]  # block_id -> block (Feishu shape), root id == document_id
    revision_id: int = 1
    owner_open_id: str = ""
    trashed: bool = False
    revisions: dict[int, tuple[str, dict[str, dict]]] = field(default_factory=dict)
    created_at: int = field(default_factory=lambda: int(time.time()))
    edited_at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class WikiSpace:
    space_id: str
    name: str


@dataclass
class WikiNode:
    node_token: str
    space_id: str
    obj_token: str
    obj_type: str
    title: str
    parent_node_token: str = ""
    node_type: str = "origin"
    created_at: int = field(default_factory=lambda: int(time.time()))


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    time: float
    status: int = 0
    code: int | None = None
    log_id: str = ""

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "body": self.body,
            "time": self.time,
            "status": self.status,
            "code": self.code,
            "log_id": self.log_id,
        }


@dataclass
class DeliveryRecord:
    event_id: str
    event_type: str
    attempt: int
    copy: int  # which duplicate (0 = the original)
    url: str | None
    status: int | None
    latency_ms: float
    response_body: Any
    error: str | None
    time: float
    kind: str = "event"  # "event" | "card" | "url_verification"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class EmulatorState:
    """Plain in-memory state. Not thread-safe: used from one event loop."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.chats: dict[str, Chat] = {}
        self.p2p_chats: dict[str, str] = {}  # open_id -> chat_id
        self.messages: dict[str, Message] = {}
        self.uuids: dict[str, tuple[str, float]] = {}  # uuid -> (message_id, first seen)
        self.cards: dict[str, Card] = {}
        self.callback_tokens: dict[str, CallbackToken] = {}
        self.documents: dict[str, Document] = {}
        self.deleted_documents: set[str] = set()
        self.subscriptions: dict[str, str] = {}  # file_token -> file_type
        self.wiki_spaces: dict[str, WikiSpace] = {}
        self.wiki_nodes: dict[str, WikiNode] = {}
        self.requests: list[RequestRecord] = []
        self.deliveries: list[DeliveryRecord] = []

    # users and chats

    def user(self, open_id: str, name: str | None = None) -> User:
        user = self.users.get(open_id)
        if user is None:
            digest = hashlib.sha256(open_id.encode()).hexdigest()
            user = User(
                open_id=open_id,
                name=name or f"User {open_id[-4:]}",
                user_id=digest[:8],
                union_id="on_" + digest[8:40],
                email=f"{digest[:8]}@example.com",
            )
            self.users[open_id] = user
        elif name:
            user.name = name
        return user

    def find_user(self, id_type: str, value: str) -> User | None:
        if id_type == "open_id":
            return self.user(value) if value.startswith("ou_") else None
        for user in self.users.values():
            if getattr(user, id_type, None) == value:
                return user
        return None

    def p2p_chat(self, open_id: str) -> Chat:
        chat_id = self.p2p_chats.get(open_id)
        if chat_id is None:
            chat_id = ids.chat_id()
            self.chats[chat_id] = Chat(chat_id, "p2p", p2p_open_id=open_id, members={open_id})
            self.p2p_chats[open_id] = chat_id
        return self.chats[chat_id]

    def group_chat(self, chat_id: str | None = None, name: str = "", members: set[str] | None = None) -> Chat:
        chat_id = chat_id or ids.chat_id()
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = Chat(chat_id, "group", name=name or f"Group {chat_id[-4:]}")
            self.chats[chat_id] = chat
        if members:
            chat.members |= members
        return chat

    def add_message(self, msg: Message) -> Message:
        self.messages[msg.message_id] = msg
        self.chats[msg.chat_id].message_ids.append(msg.message_id)
        return msg

    def message_content(self, msg: Message) -> str:
        """The content as a client shows it now (a CardKit reference shows the card's current state)."""
        if msg.card_id and msg.card_id in self.cards:
            return json.dumps(self.cards[msg.card_id].card, ensure_ascii=False)
        return msg.content
