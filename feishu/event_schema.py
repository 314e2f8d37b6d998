"""Typed models of the event fields larkdesk reads, checked after the signature and before anything is queued.

A signed event can still carry the wrong types (`message` a string, `mentions` a number, a card `action` that is
a list): such an event is acknowledged and dropped at the door, never handed to a handler that would raise and
be retried as if the failure were transient. Models allow extra fields (Feishu adds fields over time) and accept
`null` where Feishu sends it for "none"; identifiers are bounded because they become Redis keys.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

# Internal event types: only larkdesk itself queues these (a card click's follow-up); a webhook may not.
INTERNAL_PREFIX = "larkdesk."


def _none_as_empty(value: Any) -> Any:
    return "" if value is None else value


Id = Annotated[str, BeforeValidator(_none_as_empty), Field(max_length=256)]
Text = Annotated[str, BeforeValidator(_none_as_empty), Field(max_length=200_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class UserIds(_Model):
    open_id: Id = ""
    union_id: Id = ""
    user_id: Id = ""


class Header(_Model):
    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    event_type: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")]


# -- im.message.receive_v1 -------------------------------------------------------------------------------------


class Sender(_Model):
    sender_id: UserIds = UserIds()
    sender_type: Id = ""


class Mention(_Model):
    key: Id = ""
    id: UserIds = UserIds()
    name: Text = ""


class Message(_Model):
    message_id: Annotated[str, Field(min_length=1, max_length=256)]
    chat_id: Id = ""
    chat_type: Id = ""
    message_type: Id = ""
    content: Text = ""
    mentions: Annotated[list[Mention], BeforeValidator(lambda v: [] if v is None else v)] = []
    root_id: Id = ""
    parent_id: Id = ""
    thread_id: Id = ""


class MessageReceived(_Model):
    sender: Sender = Sender()
    message: Message


# -- card.action.trigger ---------------------------------------------------------------------------------------


class CardValue(_Model):
    """What larkdesk's own buttons carry (desk/cards.py, the suggestion card); a forged click may carry anything."""

    action: Id = ""
    session: Id = ""
    question: Annotated[str, BeforeValidator(_none_as_empty), Field(max_length=2000)] = ""
    score: int = Field(default=0, ge=0, le=10)
    review: Id = ""
    decision: Id = ""


class CardActionBody(_Model):
    value: CardValue | None = None
    form_value: dict[str, Any] | None = None
    tag: Id = ""


class Operator(_Model):
    open_id: Id = ""


class CardContext(_Model):
    open_message_id: Id = ""
    open_chat_id: Id = ""


class CardAction(_Model):
    operator: Operator = Operator()
    action: CardActionBody
    context: CardContext = CardContext()


# -- drive, p2p chat entered, bot menu -------------------------------------------------------------------------


class DriveFileEvent(_Model):
    file_token: Annotated[str, Field(min_length=1, max_length=256)]
    file_type: Id = ""


class P2pChatEntered(_Model):
    chat_id: Id = ""
    operator_id: UserIds = UserIds()


class MenuOperator(_Model):
    operator_id: UserIds = UserIds()


class BotMenu(_Model):
    event_key: Id = ""
    operator: MenuOperator = MenuOperator()


EVENT_MODELS: dict[str, type[BaseModel]] = {
    "im.message.receive_v1": MessageReceived,
    "card.action.trigger": CardAction,
    "drive.file.edit_v1": DriveFileEvent,
    "drive.file.title_updated_v1": DriveFileEvent,
    "drive.file.trashed_v1": DriveFileEvent,
    "drive.file.deleted_v1": DriveFileEvent,
    "im.chat.access_event.bot_p2p_chat_entered_v1": P2pChatEntered,
    "application.bot.menu_v6": BotMenu,
}


def is_internal(event_type: str) -> bool:
    return event_type.startswith(INTERNAL_PREFIX)


def schema_problem(event_id: str, event_type: str, payload: dict[str, Any]) -> str | None:
    """Why this event does not fit what larkdesk reads (None when it fits). Types without a model only need a
    sane id and type."""
    try:
        Header.model_validate({"event_id": event_id, "event_type": event_type})
        model = EVENT_MODELS.get(event_type)
        if model is not None:
            model.model_validate(payload.get("event"))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[:3]
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in first)
    return None
