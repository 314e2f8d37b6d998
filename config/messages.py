"""What the bot says to users, in zh-CN (default) and English."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "echo": "收到：{text}",
        "unsupported_message": "暂时只能理解文字消息，请用文字描述您的问题。",
        "empty_message": "请问有什么可以帮您？",
    },
    "en": {
        "echo": "Got it: {text}",
        "unsupported_message": "I can only read text messages for now; please describe your question in text.",
        "empty_message": "How can I help you?",
    },
}


def t(key: str, language: str = "zh-CN", **values: object) -> str:
    """Look up a user-facing text; falls back to zh-CN when a language lacks the key."""
    table = MESSAGES.get(language) or MESSAGES["zh-CN"]
    template = table.get(key) or MESSAGES["zh-CN"][key]
    return template.format(**values)
