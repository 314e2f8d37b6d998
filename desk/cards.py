"""Feishu card JSON 2.0 for the desk: the escalation card agents work from, and the customer's CSAT card.

Every button carries `{"action": ..., "session": ...}` so a click routes by action and finds its session
without any lookup by message. One card function per session state keeps what agents see consistent,
whether the change came from a click, the REST API or the SLA job. Everything a customer wrote is masked
(phone, ID, bank-card numbers, e-mail addresses) before it is drawn: a card is seen by the whole agent group.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from desk.sessions import Session
from observability.masking import mask_text

PRIORITY_LABEL = {"urgent": "🔴 紧急 urgent", "high": "🟠 高 high", "normal": "🔵 普通 normal", "info": "⚪ 低 info"}
PRIORITY_TEMPLATE = {"urgent": "red", "high": "orange", "normal": "blue", "info": "grey"}
REASON_LABEL = {"human_request": "客户要求人工", "complaint": "投诉/负面情绪", "failed_answers": "多次未能解答",
                "no_answer": "知识库无答案", "menu": "菜单转人工", "knowledge_unavailable": "知识库暂不可用"}
ROLE_LABEL = {"user": "客户", "assistant": "机器人", "agent": "客服", "system": "系统"}
_ZONE = ZoneInfo("Asia/Shanghai")


def escape(text: str) -> str:
    """Customer text shown in a markdown element: masked, and never rendered as markup or a mention."""
    text = mask_text(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, _ZONE).strftime("%m-%d %H:%M") if ts else "-"


def _button(element_id: str, label: str, value: dict[str, Any], kind: str = "default",
            form_submit: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {"tag": "button", "element_id": element_id, "type": kind,
                              "text": {"tag": "plain_text", "content": label},
                              "behaviors": [{"type": "callback", "value": value}]}
    if form_submit:
        button["form_action_type"] = "submit"
        button["name"] = element_id
    return button


def _md(element_id: str, content: str) -> dict[str, Any]:
    return {"tag": "markdown", "element_id": element_id, "content": content}


def _card(title: str, template: str, elements: list[dict[str, Any]], summary: str) -> dict[str, Any]:
    return {"schema": "2.0",
            "config": {"update_multi": True, "summary": {"content": summary[:100]}},
            "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
            "body": {"elements": elements}}


def _transcript(history: Sequence[dict[str, Any]], last: int = 6) -> str:
    lines = []
    for entry in list(history)[-last:]:
        content = escape(str(entry.get("content", "")).replace("\n", " "))
        if len(content) > 160:
            content = content[:159] + "…"
        lines.append(f"**{ROLE_LABEL.get(str(entry.get('role')), entry.get('role'))}**：{content}")
    return "\n".join(lines) or "-"


def session_card(session: Session, history: Sequence[dict[str, Any]], *, now: float | None = None,
                 reveal_phone: bool = False) -> dict[str, Any]:
    """The agent group's card for a session, drawn for its current state. `reveal_phone` (DESK_REVEAL_PHONE)
    adds a button that shows the customer's own phone number to the clicking agent only (a toast)."""
    sid = session.session_id
    customer = escape(session.customer_name or session.customer_id)
    facts = [f"**客户**：{customer}（{session.channel}）",
             f"**原因**：{REASON_LABEL.get(session.escalate_reason, session.escalate_reason or '-')}",
             f"**优先级**：{PRIORITY_LABEL.get(session.priority, session.priority)}",
             f"**转人工时间**：{_clock(session.escalated_at)}"]
    if session.state == "pending":
        waited = int(((now or time.time()) - session.escalated_at) // 60) if session.escalated_at else 0
        facts.append(f"**已等待**：{waited} 分钟" + (f"（第 {session.alerts} 次提醒）" if session.alerts else ""))
    elements = [_md("facts", "\n".join(facts)),
                _md("summary", f"**摘要**：{escape(session.summary) or '-'}"),
                {"tag": "hr", "element_id": "hr_1"},
                _md("transcript", _transcript(history))]
    value = {"session": sid}
    if session.state == "pending":
        title, template = f"转人工 · {PRIORITY_LABEL.get(session.priority, session.priority)}", \
            PRIORITY_TEMPLATE.get(session.priority, "blue")
        elements.append(_button("btn_claim", "认领 Claim", {"action": "claim", **value}, "primary"))
    elif session.state == "claimed":
        title, template = "处理中 · Claimed", "turquoise"
        elements.append(_md("agent", f"**处理人**：<at id={session.agent_id}></at>\n"
                                     "在本消息的话题中回复，将转发给客户 / Reply in this thread to reach the customer"))
        elements.append({"tag": "form", "element_id": "resolve_form", "name": "resolve_form", "elements": [
            {"tag": "input", "element_id": "note", "name": "note", "placeholder":
                {"tag": "plain_text", "content": "处理备注（可选）"}},
            _button("btn_resolve", "解决 Resolve", {"action": "resolve", **value}, "primary", form_submit=True),
        ]})
        elements.append(_button("btn_return", "转回机器人 Return to bot", {"action": "return", **value}))
        elements.append(_button("btn_suggest", "推荐答案 Suggest answer", {"action": "suggest", **value}))
        if reveal_phone:
            elements.append(_button("btn_reveal_phone", "查看客户手机号 Show phone",
                                    {"action": "reveal_phone", **value}))
    elif session.state == "resolved":
        title, template = "已解决 · Resolved", "green"
        elements.append(_md("resolution", f"**处理人**：<at id={session.agent_id}></at>\n"
                                          f"**备注**：{escape(session.resolve_note) or '-'}"))
        elements.append({"tag": "form", "element_id": "solution_form", "name": "solution_form", "elements": [
            {"tag": "input", "element_id": "question", "name": "question",
             "default_value": mask_text(session.summary)[:200],
             "placeholder": {"tag": "plain_text", "content": "客户的问题"}},
            {"tag": "input", "element_id": "solution", "name": "solution", "input_type": "multiline_text",
             "default_value": mask_text(session.resolve_note)[:500],
             "placeholder": {"tag": "plain_text", "content": "解决方案"}},
            _button("btn_solution", "保存为解决方案 Save as solution", {"action": "solution", **value},
                    form_submit=True),
        ]})
    else:  # back with the bot
        title, template = "已转回机器人 · Back to bot", "grey"
    return _card(title, template, elements, f"{title}：{mask_text(session.summary)}")


def csat_card(session: Session, *, title: str) -> dict[str, Any]:
    """The customer rates 1-5 with an optional comment, in one form."""
    buttons = [_button(f"csat_{n}", "⭐" * n, {"action": "csat", "session": session.session_id, "score": n},
                       "primary" if n == 5 else "default", form_submit=True) for n in range(1, 6)]
    form = {"tag": "form", "element_id": "csat_form", "name": "csat_form", "elements": [
        {"tag": "input", "element_id": "comment", "name": "comment",
         "placeholder": {"tag": "plain_text", "content": "意见或建议（可选）"}},
        *buttons]}
    return _card(title, "blue", [form], title)


def csat_done_card(score: int, *, title: str) -> dict[str, Any]:
    return _card(title, "green", [_md("thanks", "⭐" * score)], title)


def review_card(items: Sequence[Any]) -> dict[str, Any]:
    """Admins approve or reject agents' solutions before they become knowledge."""
    elements: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        elements.append(_md(f"item_{i}", f"**{escape(item.question)}**\n{escape(item.solution)}\n"
                                        f"<font color='grey'>{item.review_id} · {escape(item.submitted_by)}</font>"))
        elements.append({"tag": "column_set", "element_id": f"cols_{i}", "columns": [
            {"tag": "column", "elements": [_button(f"approve_{i}", "通过 Approve",
                                                   {"action": "review", "decision": "approve",
                                                    "review": item.review_id}, "primary")]},
            {"tag": "column", "elements": [_button(f"reject_{i}", "驳回 Reject",
                                                   {"action": "review", "decision": "reject",
                                                    "review": item.review_id}, "danger")]},
        ]})
    if not elements:
        elements.append(_md("empty", "没有待审核的解决方案。"))
    return _card("待审核的解决方案 · Review", "purple", elements, "review")
