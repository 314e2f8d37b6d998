"""The "Suggest answer" card in a session's thread: knowledge for the whole conversation, each entry with a
button that sends it to the customer and teaches the bot the customer's wording (desk/agent_desk.py)."""

from __future__ import annotations

from typing import Any

from desk.cards import escape
from desk.sessions import Session
from observability.masking import mask_text

_OPTION_FIELDS = ("key", "source_id", "block_id", "chunk_id", "label", "knowledge_type")


def suggestion_thread_card(session: Session, query: str, found: list[dict[str, Any]]) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [
        {"tag": "markdown", "element_id": "asked",
         "content": f"**推荐答案 Suggestions**（针对：{escape(mask_text(query)[:120])}）"}]
    for i, item in enumerate(found, 1):
        option = item.get("option") or {}
        title = item.get("question") or item.get("source") or ""
        content = mask_text(str(item.get("content", "")))
        content = content if len(content) <= 300 else content[:299] + "…"
        elements.append({"tag": "markdown", "element_id": f"entry_{i}",
                         "content": f"**{i}. {escape(str(title))}**（{item.get('score', 0):.2f}）\n{escape(content)}"})
        value = {"action": "use_entry", "session": session.session_id,
                 **{k: str(option.get(k, ""))[:200] for k in _OPTION_FIELDS}}
        elements.append({"tag": "button", "element_id": f"use_{i}", "type": "primary",
                         "text": {"tag": "plain_text", "content": f"发送第 {i} 条给客户 Send #{i}"},
                         "behaviors": [{"type": "callback", "value": value}]})
    return {"schema": "2.0", "config": {"update_multi": True, "summary": {"content": "推荐答案 Suggestions"}},
            "body": {"elements": elements}}
