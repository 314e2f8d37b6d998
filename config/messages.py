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
    },
    "en": {
        "echo": "Got it: {text}",
        "unsupported_message": "I can only read text messages for now; please describe your question in text.",
        "empty_message": "How can I help you?",
        "handover": "Sorry, I can't answer that reliably. I'm handing you over to a human agent; please wait.",
        "did_you_mean": "Did you mean one of these?",
        "extractive_passage": "From \"{where}\":\n{text}",
        "service_unavailable": "The service is busy; please try again later.",
    },
}


def t(key: str, language: str = "zh-CN", **values: object) -> str:
    """Look up a user-facing text; falls back to zh-CN when a language lacks the key."""
    table = MESSAGES.get(language) or MESSAGES["zh-CN"]
    template = table.get(key) or MESSAGES["zh-CN"][key]
    return template.format(**values)
