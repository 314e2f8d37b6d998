"""Outbound Feishu client used by every package (messages, cards, CardKit, docx, wiki, drive)."""

from bot.feishu.client import FeishuClient
from bot.feishu.errors import FeishuAPIError

__all__ = ["FeishuAPIError", "FeishuClient"]
