"""What the bot says to users, in zh-CN (default) and English."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "echo": "收到：{text}",
        "unsupported_message": "暂时只能理解文字消息，请用文字描述您的问题。",
        "empty_message": "请问有什么可以帮您？",
        "handover": "抱歉，这个问题我暂时无法准确回答，已为您转接人工客服，请稍候。",
        "did_you_mean": "您是想问以下哪个问题？",
        "extractive_passage": "根据《{where}》：\n{text}",
        "service_unavailable": "系统繁忙，请稍后再试。",
        "no_answer": "抱歉，我没有找到这个问题的答案。可以换个说法再问一次，或回复“转人工”联系人工客服。",
        "handover_human": "好的，正在为您转接人工客服，请稍候，客服接入后会在这里回复您。",
        "handover_complaint": "非常抱歉给您带来不好的体验，已为您优先转接人工客服处理，请稍候。",
        "handover_failed": "抱歉，我暂时无法解决您的问题，已为您转接人工客服，请稍候。",
        "handover_knowledge_unavailable": "抱歉，知识库暂时无法查询，已为您转接人工客服，请稍候。",
        "agents_away": "当前为非工作时间，人工客服将于 {when} 上线，届时会第一时间回复您。",
        "agent_joined": "客服{agent}已接入，请问有什么可以帮您？",
        "returned_to_bot": "人工服务已结束，接下来由智能助手为您服务。",
        "resolved": "本次服务已结束，感谢您的耐心。",
        "csat_title": "请为本次服务评分",
        "csat_thanks": "感谢您的评价！",
        "chitchat_hello": "您好！我是智能客服，请问有什么可以帮您？",
        "chitchat_thanks": "不客气，还有其他问题随时问我。",
        "chitchat_bye": "再见，祝您生活愉快！",
        "ask_order_id": "请提供您的订单号（如 20241101001），我来帮您查询。",
        "ask_order_problem": "请问订单{order_id}遇到了什么问题？例如：物流进度、退款、修改地址。",
        "order_not_found": "没有找到订单{order_id}，请核对订单号后重新发送。",
        "business_unavailable": "订单系统暂时无法查询，请稍后再试，或回复“转人工”。",
        "flow_reset": "上一次的订单查询因长时间未回复已重置。",
        "flow_cancelled": "好的，已取消本次查询。",
        "welcome": "您好，欢迎咨询！我是智能客服，可以回答商品、订单、售后等问题；需要人工服务请回复“转人工”。",
        "admin_only": "抱歉，该命令仅限管理员使用。",
        "relay_failed": "消息未能送达客户，请稍后重试。",
        "order_id_missing": "抱歉，没能识别到您的订单号。您可以在 App「我的订单」中复制订单号发给我，或回复“转人工”。",
        "repeat_hint": "如果这没有解决您的问题，可以点“没有帮助”或回复“转人工”。",
        "feedback_thanks": "感谢您的反馈！还有其他问题随时问我。",
        "did_you_mean_other": "抱歉没能帮到您。您是想问以下哪个问题？",
        "button_human": "转人工",
        "button_helpful": "👍 已解决",
        "button_not_helpful": "👎 没有帮助",
        "answer_card_title": "智能客服",
    },
    "en": {
        "echo": "Got it: {text}",
        "unsupported_message": "I can only read text messages for now; please describe your question in text.",
        "empty_message": "How can I help you?",
        "handover": "Sorry, I can't answer that reliably. I'm handing you over to a human agent; please wait.",
        "did_you_mean": "Did you mean one of these?",
        "extractive_passage": "From \"{where}\":\n{text}",
        "service_unavailable": "The service is busy; please try again later.",
        "no_answer": "Sorry, I couldn't find an answer to that. Try asking another way, "
                     "or reply \"human\" for an agent.",
        "handover_human": "Sure, connecting you to a human agent. Please wait; the agent will reply here.",
        "handover_complaint": "We're very sorry about your experience. An agent will take this over first thing.",
        "handover_failed": "Sorry, I can't solve this one. I'm handing you over to a human agent; please wait.",
        "handover_knowledge_unavailable": "Sorry, the knowledge base can't be reached right now. A human agent "
                                          "will help you; please wait.",
        "agents_away": "Our agents are offline now and will be back at {when}; they will reply to you first thing.",
        "agent_joined": "Agent {agent} has joined. How can I help you?",
        "returned_to_bot": "The agent has finished; the assistant will help you from here.",
        "resolved": "This conversation is closed. Thank you for your patience.",
        "csat_title": "Please rate this service",
        "csat_thanks": "Thank you for your feedback!",
        "chitchat_hello": "Hello! I'm the support assistant. How can I help you?",
        "chitchat_thanks": "You're welcome. Ask me anything else any time.",
        "chitchat_bye": "Goodbye, have a nice day!",
        "ask_order_id": "Please send your order number (e.g. 20241101001) and I'll look it up.",
        "ask_order_problem": "What's the problem with order {order_id}? For example: delivery status, refund, address.",
        "order_not_found": "I couldn't find order {order_id}; please check the number and send it again.",
        "business_unavailable": "The order system can't be reached right now; please try later or reply \"human\".",
        "flow_reset": "Your earlier order query was reset after a long pause.",
        "flow_cancelled": "OK, I've cancelled this query.",
        "welcome": "Hi, welcome! I can answer questions about products, orders and after-sales; "
                   "reply \"human\" for an agent.",
        "admin_only": "Sorry, that command is for administrators only.",
        "relay_failed": "The message could not be delivered to the customer; please retry.",
        "order_id_missing": "Sorry, I couldn't find an order number. Copy it from \"My orders\" in the app, "
                            "or reply \"human\" for an agent.",
        "repeat_hint": "If this did not solve your problem, tap \"Not helpful\" or reply \"human\".",
        "feedback_thanks": "Thanks for the feedback! Ask me anything else any time.",
        "did_you_mean_other": "Sorry that didn't help. Did you mean one of these?",
        "button_human": "Human agent",
        "button_helpful": "👍 Solved",
        "button_not_helpful": "👎 Not helpful",
        "answer_card_title": "Support assistant",
    },
}


def t(key: str, language: str = "zh-CN", **values: object) -> str:
    """Look up a user-facing text; falls back to zh-CN when a language lacks the key."""
    table = MESSAGES.get(language) or MESSAGES["zh-CN"]
    template = table.get(key) or MESSAGES["zh-CN"][key]
    return template.format(**values)
