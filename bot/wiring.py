"""Which handler answers which Feishu event: the product's default registrations."""

from __future__ import annotations

from bot.handlers.cards import CardActionRouter
from bot.handlers.knowledge import ASK_EVENT, ask_action, ask_handler, knowledge_responder
from bot.handlers.messages import MessageHandler, echo_responder
from bot.services import Services


def register_default_handlers(services: Services) -> CardActionRouter:
    settings, registry = services.settings, services.registry
    language = settings.bot_language
    answerer = services.knowledge.answerer
    registry.add_event(
        "im.message.receive_v1",
        MessageHandler(services.feishu,
                       echo_responder(language) if settings.bot_responder == "echo"
                       else knowledge_responder(answerer, language),
                       bot_open_id=settings.feishu_bot_open_id, language=language,
                       max_attempts=settings.queue_max_attempts),
    )
    cards = CardActionRouter()
    cards.add("ask", ask_action(services.queue))
    registry.add_callback("card.action.trigger", cards)
    registry.add_event(ASK_EVENT, ask_handler(services.feishu, answerer, language))

    docsync = services.docsync

    async def on_edit(event) -> None:
        await docsync.handle_edit(event)

    registry.add_event("drive.file.edit_v1", on_edit)
    registry.add_event("drive.file.title_updated_v1", docsync.handle_title_updated)
    registry.add_event("drive.file.trashed_v1", docsync.handle_removed)
    registry.add_event("drive.file.deleted_v1", docsync.handle_removed)
    return cards
