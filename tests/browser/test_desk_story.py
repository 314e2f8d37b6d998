"""The whole product in a real Chromium: `larkdesk serve` (bundled emulator, sample knowledge base, demo doc,
no Feishu tenant, no LLM) started as `make run` starts it, and people using only the simulator page.

Buttons are found by what they do (`data-action`, the callback's `value.action`) or by their label, never by
where they sit in a card, so the tests hold while cards gain buttons.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser.conftest import DESKTOP, PHONE
from tests.redis_server import free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]

START_TIMEOUT_S = 240  # the sample knowledge base is embedded at start (~25 s on 2 idle cores)
AGENT = "ou_agent_demo"  # `larkdesk serve` puts this agent and the admin into the emulator's agent group
ADMIN = "ou_admin"


_LOGS: list[Path] = []  # the running product's log, for failure messages


class Product:
    def __init__(self, url: str, log: Path, demo_doc: str) -> None:
        self.url = url
        self.log = log
        self.demo_doc = demo_doc


def _log_value(log: Path, event: str, key: str) -> str | None:
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if f'"event": "{event}"' in line:
            try:
                return str(json.loads(line)[key])
            except (ValueError, KeyError):
                return None
    return None


@pytest.fixture(scope="module")
def product(tmp_path_factory, browser):
    """`larkdesk serve` on free ports with a fresh DATA_DIR; ready once the sample KB and the demo doc are in."""
    home = tmp_path_factory.mktemp("larkdesk")
    port, emulator_port = free_port(), free_port()
    env = {**os.environ, "DATA_DIR": str(home / "data"), "PORT": str(port), "EMULATOR_PORT": str(emulator_port),
           "FEISHU_APP_ID": "", "REDIS_URL": "", "MILVUS_URI": "", "LLM_BASE_URL": "", "LLM_MODEL": "",
           "FEISHU_AGENT_CHAT_ID": "", "FEISHU_ADMIN_OPEN_IDS": "", "DESK_WORKING_HOURS": "",
           "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "OMP_NUM_THREADS": "1"}
    log = home / "serve.log"
    _LOGS.append(log)
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=home, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "startup.docs_subscribed" not in log.read_text(encoding="utf-8", errors="replace"):
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "larkdesk serve never got ready:\n" + log.read_text()[-3000:]
            time.sleep(0.5)
        # the start-up log line names the page (what `make run` prints for a person to open)
        page_url = _log_value(log, "serve.emulator_started", "simulator")
        assert page_url == f"http://127.0.0.1:{emulator_port}/"
        yield Product(page_url.rstrip("/"), log, _log_value(log, "serve.demo_doc", "document_id") or "")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def open_page(page, product: Product, query: str) -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(f"{product.url}/{query}")
    page.wait_for_selector("body[data-live='1']", state="attached")


def new_customer(page, open_id: str, name: str) -> None:
    """Starts a customer's direct chat from the chat list (the bot hears them enter, as in Feishu)."""
    form = page.locator("form.newchat")
    form.get_by_label("用户 open_id").fill(open_id)
    form.get_by_label("显示名称（可选）").fill(name)
    form.get_by_role("button", name="新客户单聊").click()
    page.locator(".convo-head h2", has_text=name).wait_for()


def say(page, text: str) -> str:
    """Types into the customer's message box, presses Enter; returns the new message's id."""
    mine = page.locator(".pane-chats .msg.from-me")
    before = mine.count()
    page.locator("#composer").fill(text)
    page.locator("#composer").press("Enter")
    mine.nth(before).wait_for()
    return mine.nth(before).get_attribute("data-message-id")


REPLY_TIMEOUT_MS = 60_000  # a busy 2-core machine: the answer path shares it with the browser


def reply_to(page, message_id: str):
    """The bot's answer to one message (text or card: only the reply link is relied on)."""
    answer = page.locator(f".pane-chats .msg.from-bot[data-parent-id='{message_id}']").first
    try:
        answer.wait_for(timeout=REPLY_TIMEOUT_MS)
    except Exception as exc:
        lines = [line for line in _LOGS[-1].read_text(errors="replace").splitlines() if message_id in line]
        shown = page.locator(".pane-chats .messages").inner_text()
        raise AssertionError(f"no reply to {message_id} shown.\nServer log:\n" + "\n".join(lines[-15:])
                             + f"\nPage:\n{shown[-1500:]}") from exc
    return answer


# Short, broad questions the sample knowledge base answers with a did-you-mean card (which one does depends
# on the answer policy's calibration, so the first that does is used). Asked first in a conversation: later,
# the bot reads a short question as a follow-up of the topic before it and may answer it outright.
UNCLEAR = ("退货", "退款", "积分", "发票")


def did_you_mean(page):
    replies = []
    for question in UNCLEAR:
        reply = reply_to(page, say(page, question))
        if reply.locator("[data-action=ask]").count():
            return reply
        replies.append(f"{question} → {reply.inner_text()[:80]}")
    raise AssertionError("no did-you-mean card:\n" + "\n".join(replies))


def test_question_answer_did_you_mean_escalation_claim_relay_resolve_csat(page, product: Product, screenshots):
    open_page(page, product, f"?as={AGENT}")
    new_customer(page, "ou_e2e_story", "张三")
    chat = page.locator(".pane-chats")
    agents = page.locator(".side-agents")

    # an unclear question: a did-you-mean card; a click on a suggestion asks it
    card = did_you_mean(page)
    suggestion = card.locator("[data-action=ask]").first
    asked = suggestion.inner_text().strip()
    assert asked
    screenshots.take(page, "simulator-did-you-mean")
    bot_messages = chat.locator(".msg.from-bot")
    before = bot_messages.count()
    suggestion.click()
    bot_messages.nth(before).wait_for()
    followup = bot_messages.nth(before).inner_text()
    assert "抱歉" not in followup and asked not in followup.split("\n")[0]

    # a question the knowledge base answers
    answer = reply_to(page, say(page, "冰箱退货能上门取件吗"))
    assert "上门取件" in answer.inner_text()
    screenshots.take(page, "simulator-answer")

    # "转人工": the customer is told, a card reaches the agent group
    transfer = reply_to(page, say(page, "转人工"))
    assert "人工" in transfer.inner_text()
    pending = agents.locator(".msg--interactive", has=page.locator("[data-action=claim]")).last
    pending.wait_for()
    assert "ou_e2e_story" in pending.inner_text()  # the card names the customer (by open_id: no name lookup)
    card_id = pending.get_attribute("data-message-id")
    screenshots.take(page, "simulator-escalation")

    # Claim (as the demo agent): the card turns into "claimed" for everyone; the customer hears who joined
    pending.locator("[data-action=claim]").click()
    page.locator(".toast--success", has_text="认领成功").wait_for()
    claimed = agents.locator(f".msg[data-message-id='{card_id}']")
    claimed.locator("[data-action=resolve]").wait_for()
    assert claimed.locator("[data-action=claim]").count() == 0
    chat.locator(".msg.from-bot", has_text="Demo Agent").wait_for()

    # relay both ways through the card's thread
    thread = claimed.locator(".thread")
    thread.locator("textarea").fill("您好，请问订单号是多少？")
    thread.locator("textarea").press("Enter")
    chat.locator(".msg.from-bot", has_text="您好，请问订单号是多少？").wait_for()
    say(page, "订单20241102002，一直没收到")
    thread.locator(".thread-list .msg", has_text="20241102002").wait_for()
    screenshots.take(page, "simulator-claimed-thread")

    # Resolve with a note: the card shows it; the customer gets the CSAT card and rates
    claimed.locator("input[name=note]").fill("已联系快递，明天补发")
    claimed.locator("[data-action=resolve]").click()
    claimed.locator("[data-action=solution]").wait_for()
    assert "已联系快递，明天补发" in claimed.inner_text()
    rating = chat.locator(".msg--interactive", has=page.locator("[data-action=csat]")).last
    rating.wait_for()
    csat = chat.locator(f".msg[data-message-id='{rating.get_attribute('data-message-id')}']")
    csat.locator("input[name=comment]").fill("很快，谢谢")
    screenshots.take(page, "simulator-resolved-csat")
    csat.get_by_role("button", name="⭐⭐⭐⭐⭐").click()
    csat.locator("[data-action=csat]").first.wait_for(state="detached")
    assert "⭐⭐⭐⭐⭐" in csat.inner_text()
    page.set_viewport_size(PHONE)
    screenshots.take(page, "simulator-phone", without_toasts=True)


def test_two_agents_race_for_one_claim(browser, page, product: Product, screenshots):
    open_page(page, product, f"?as={AGENT}")
    new_customer(page, "ou_e2e_race", "李四")
    other = browser.new_page()
    try:
        open_page(other, product, f"?pane=agents&as={ADMIN}")
        say(page, "人工客服")
        for tab in (page, other):
            card = tab.locator(".side-agents .msg--interactive", has_text="ou_e2e_race")
            card.locator("[data-action=claim]").wait_for()
        # Both tabs hold their Claim button, then click it within the same millisecond or so: the second tab
        # clicks when the first one's message reaches it, before either callback has come back.
        grab = """() => {
            const cards = [...document.querySelectorAll('.side-agents .msg--interactive')]
                .filter((c) => c.innerText.includes('ou_e2e_race'));
            window.__claim = cards.pop().querySelector('[data-action=claim]');
            window.__race = new BroadcastChannel('race');
            window.__race.onmessage = () => window.__claim.click();
        }"""
        page.evaluate(grab)
        other.evaluate(grab)
        page.evaluate("() => { window.__race.postMessage('go'); window.__claim.click(); }")
        toasts = {}
        for tab in (page, other):
            toast = tab.locator(".toast--success, .toast--warning").first
            toast.wait_for()
            toasts[tab] = (toast.get_attribute("class"), toast.inner_text())
        won = [tab for tab, (kind, text) in toasts.items() if "success" in kind and "认领成功" in text]
        lost = [tab for tab, (kind, text) in toasts.items() if "warning" in kind and "已被" in text]
        assert len(won) == 1 and len(lost) == 1, list(toasts.values())
        winner = "Demo Agent" if won[0] is page else "Admin"
        assert winner in lost[0].locator(".toast--warning").inner_text()
        for tab in (page, other):  # both now see the claimed card
            card = tab.locator(".side-agents .msg--interactive", has_text="ou_e2e_race")
            card.locator("[data-action=resolve]").wait_for()
            assert winner in card.inner_text()
        screenshots.take(lost[0], "simulator-claim-race")
    finally:
        other.close()


def test_a_doc_edit_in_the_docs_pane_changes_the_next_answer_within_2s(page, product: Product, screenshots):
    open_page(page, product, f"?pane=docs&doc={product.demo_doc}")
    new_customer(page, "ou_e2e_doc", "王五")
    question = "以旧换新怎么折价"
    before = reply_to(page, say(page, question)).inner_text()
    assert "以旧换新" in before and "800元" not in before

    editor = page.locator(".doc-editor")
    editor.get_by_text("已订阅").wait_for()
    assert not page.locator(".side-agents").is_visible()  # the docs tab replaces the agent group
    block = editor.locator("[data-editable]", has_text="折价金额以上门评估为准")
    block.click()
    page.keyboard.press("Control+a")  # inside a contenteditable block: selects that block's text
    page.keyboard.type("以旧换新：旧机折价最高可抵扣800元，上门评估后当场抵扣。")
    page.keyboard.press("Control+s")
    page.locator(".toast", has_text="已通知机器人").wait_for()
    saved = time.monotonic()
    time.sleep(max(0.0, saved + 2.0 - time.monotonic()))
    after = reply_to(page, say(page, question)).inner_text()
    assert "800元" in after, after
    screenshots.take(page, "simulator-docs-edit")


def test_an_admin_runs_status_from_the_admin_chat(page, product: Product, screenshots):
    open_page(page, product, f"?chat={ADMIN}")
    page.get_by_role("button", name="/status").click()
    status = page.locator(".pane-chats .msg.from-bot", has_text="知识库 knowledge")
    status.wait_for()
    text = status.inner_text()
    assert re.search(r"知识库 knowledge: \d+ chunks", text) and "客服 agents: 2" in text
    screenshots.take(page, "simulator-admin-status")


def test_a_new_doc_is_synced_with_the_admin_sync_command(page, product: Product):
    open_page(page, product, "?pane=docs")
    page.get_by_label("文档标题").first.fill("会员积分规则")
    page.get_by_role("button", name="新建文档").click()
    editor = page.locator(".doc-editor")
    editor.locator(".doc-title", has_text="会员积分规则").wait_for()
    editor.locator("[data-editable][data-block-id]").first.click()
    page.keyboard.type("会员积分每年12月31日清零，清零前30天短信提醒。")
    editor.get_by_role("button", name="保存").click()
    page.locator(".toast", has_text="已保存").wait_for()
    doc_id = page.locator(".doclist [aria-current=true]").get_attribute("data-document-id")
    editor.get_by_role("button", name="在管理员会话中 /sync").click()
    assert page.locator("#composer").input_value() == f"/sync {doc_id}"
    page.locator("#composer").press("Enter")
    page.locator(".pane-chats .msg.from-bot").last.wait_for()
    page.locator(".doc-editor").get_by_text("已订阅").wait_for()  # the bot subscribed to it
