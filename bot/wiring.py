"""Which handler answers which Feishu event: the product's default registrations."""

from __future__ import annotations

from bot.agent_group import AgentDirectory, FeishuAgentGroup, FeishuCustomers
from bot.handlers.admin import AdminCommands
from bot.handlers.cards import CardActionRouter
from bot.handlers.customer import CHANNEL, CustomerResponder, WelcomeAndMenu
from bot.handlers.desk import FOLLOWUP_EVENT, AgentThreadRelay, DeskCardActions, DeskFollowups
from bot.handlers.knowledge import ASK_EVENT, CUSTOMER_ACTIONS, ask_action, ask_handler
from bot.handlers.messages import MessageHandler, echo_responder
from bot.members import MEMBER_EVENTS, SharedChatMembers
from bot.services import Services


def register_default_handlers(services: Services) -> CardActionRouter:
    settings, registry, desk, feishu = services.settings, services.registry, services.desk, services.feishu
    language = settings.bot_language
    agent_chat = settings.feishu_agent_chat_id
    # Members come through Redis (shared by every process, dropped when Feishu reports a change); each process
    # keeps them only a couple of seconds, so all processes judge a click the same way.
    members = SharedChatMembers(feishu, services.redis)
    directory = AgentDirectory(members, agent_chat, settings.agent_ids, ttl_s=2)  # type: ignore[arg-type]
    for event_type in MEMBER_EVENTS:
        registry.add_event(event_type, members.on_member_event)
    desk.notifiers.add(FeishuAgentGroup(feishu, desk.sessions, agent_chat, language))
    desk.channels.add(CHANNEL, FeishuCustomers(feishu, language))

    customer = CustomerResponder(
        desk, feishu, AdminCommands(services, directory), AgentThreadRelay(desk, feishu, directory, language),
        agent_chat_id=agent_chat, language=language,
        stream=settings.feishu_stream_replies and services.knowledge.answerer.generator is not None)
    registry.add_event(
        "im.message.receive_v1",
        MessageHandler(feishu, echo_responder(language) if settings.bot_responder == "echo" else customer,
                       bot_open_id=settings.feishu_bot_open_id, language=language,
                       max_attempts=settings.queue_max_attempts,
                       listen_chats=frozenset({agent_chat}) if agent_chat else frozenset()),
    )
    cards = CardActionRouter()
    for action in CUSTOMER_ACTIONS:
        cards.add(action, ask_action(services.queue))
    DeskCardActions(desk, directory, services.queue, admins=settings.admin_open_ids, language=language).register(cards)
    registry.add_callback("card.action.trigger", cards)
    registry.add_event(ASK_EVENT, ask_handler(feishu, customer))
    registry.add_event(FOLLOWUP_EVENT, DeskFollowups(desk, feishu, agent_chat_id=agent_chat))

    welcome = WelcomeAndMenu(desk, feishu, human_key=settings.desk_menu_human_key, language=language)
    registry.add_event("im.chat.access_event.bot_p2p_chat_entered_v1", welcome.entered)
    registry.add_event("application.bot.menu_v6", welcome.menu)

    docsync = services.docsync

    async def on_edit(event) -> None:
        await docsync.handle_edit(event)

    registry.add_event("drive.file.edit_v1", on_edit)
    registry.add_event("drive.file.title_updated_v1", docsync.handle_title_updated)
    registry.add_event("drive.file.trashed_v1", docsync.handle_removed)
    registry.add_event("drive.file.deleted_v1", docsync.handle_removed)
    return cards
