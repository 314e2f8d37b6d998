"""The Feishu protocol layer shared by bot/ and sync/: the outbound client (messages, cards, CardKit,
docx, wiki, drive), the event model, message-content parsing and callback verification."""

from feishu.client import FeishuClient
from feishu.errors import FeishuAPIError

__all__ = ["FeishuAPIError", "FeishuClient"]
