"""The simulator page in a real Chromium against the emulator alone: live updates, CardKit streaming, card
callbacks signed and checked by the real lark-oapi SDK, the docs pane, the two languages, the keyboard, and
the desktop and phone layouts. (tests/browser/test_desk_story.py runs the whole product.)"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from emulator import Emulator, EmulatorConfig
from tests.browser.conftest import DESKTOP, PHONE, LoopThread
from tests.emulator.conftest import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.integration]


class Sim:
    def __init__(self, loop: LoopThread, emulator: Emulator, receiver: Receiver) -> None:
        self.loop = loop
        self.emulator = emulator
        self.receiver = receiver
        self.url = emulator.base_url
        self._token = ""

    def token(self) -> str:
        if not self._token:
            c = self.emulator.config
            answer = httpx.post(f"{self.url}/open-apis/auth/v3/tenant_access_token/internal",
                                json={"app_id": c.app_id, "app_secret": c.app_secret})
            self._token = answer.json()["tenant_access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        out = httpx.request(method, self.url + path, json=body, headers={"Authorization": f"Bearer {self.token()}"},
                            params={"file_type": "docx"} if path.endswith("/subscribe") else None).json()
        assert out["code"] == 0, out
        return out.get("data", {})

    def bot_reply(self, message_id: str, msg_type: str, content: dict) -> str:
        return self.api("POST", f"/open-apis/im/v1/messages/{message_id}/reply",
                        {"msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False)})["message_id"]

    def control(self, method: str, path: str, body: dict | None = None) -> dict:
        response = httpx.request(method, f"{self.url}/_emulator{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def events(self, event_type: str, n: int = 1, timeout_s: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.receiver.of_type(event_type)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{event_type}: {len(self.receiver.of_type(event_type))} of {n} arrived")


@pytest.fixture(scope="module")
def sim_server():
    loop = LoopThread()
    emulator = Emulator(EmulatorConfig(retry_time_scale=0.001))
    loop.run(emulator.start())
    receiver = Receiver(emulator.config)
    url = loop.run(receiver.start())
    emulator.set_delivery(event_callback_url=url)
    yield Sim(loop, emulator, receiver)
    loop.run(receiver.stop())
    loop.run(emulator.stop())
    loop.stop()


@pytest.fixture
def sim(sim_server: Sim) -> Sim:
    sim_server.loop.run(sim_server.emulator.reset())
    sim_server.receiver.events.clear()
    sim_server.receiver.card_response = None
    return sim_server


def open_page(page, sim: Sim, query: str = "") -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(f"{sim.url}/{query}")
    page.wait_for_selector("body[data-live='1']", state="attached")


def test_messages_arrive_live_in_both_languages_and_the_keyboard_sends(page, sim: Sim):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_page(page, sim, "?chat=ou_kb")
    page.evaluate("window.__sameDocument = true")
    # no polling: once loaded, an idle page sends nothing (its one stream stays open)
    page.wait_for_timeout(300)
    loaded = len(requests)
    assert sum(url.endswith("/_emulator/stream") for url in requests) == 1
    page.wait_for_timeout(1500)
    assert requests[loaded:] == []
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("tab", name="客服组").first.is_visible()

    # keyboard only: the skip link leads to the message box; Enter sends
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "composer"
    page.keyboard.type("你好")
    page.keyboard.press("Enter")
    sent = page.locator(".pane-chats .msg.from-me")
    sent.filter(has_text="你好").wait_for()
    [event] = sim.events("im.message.receive_v1")
    assert json.loads(event["data"].event.message.content) == {"text": "你好"}
    assert event["data"].event.sender.sender_id.open_id == "ou_kb"

    # the bot answers through the Open API: the page shows it at once, without reloading
    sim.bot_reply(event["data"].event.message.message_id, "text", {"text": "您好！有什么可以帮您？"})
    page.locator(".pane-chats .msg.from-bot", has_text="您好！有什么可以帮您？").wait_for()
    sim.bot_reply(event["data"].event.message.message_id, "post", {"zh_cn": {"title": "营业时间", "content": [
        [{"tag": "text", "text": "每天 "}, {"tag": "md", "text": "**9:00-21:00**"}]]}})
    post = page.locator(".pane-chats .msg--post").last
    post.wait_for()
    assert post.locator("strong").inner_text() == "9:00-21:00"

    # switching to English changes the page's words, not the messages
    page.get_by_role("button", name="Switch to English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("tab", name="Agents").first.wait_for()
    assert page.locator(".pane-chats .msg.from-me", has_text="你好").count() == 1
    assert page.get_by_label("Type a message").is_visible()
    assert page.evaluate("window.__sameDocument") is True
    page.get_by_role("button", name="切换到中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_customers_and_group_chats_start_from_the_chat_list(page, sim: Sim):
    open_page(page, sim)
    form = page.locator("form.newchat")
    form.get_by_label("用户 open_id").fill("ou_zhang")
    form.get_by_label("显示名称（可选）").fill("张三")
    form.get_by_role("button", name="新客户单聊").click()
    page.locator(".convo-head h2", has_text="张三").wait_for()
    [entered] = sim.events("im.chat.access_event.bot_p2p_chat_entered_v1")
    assert entered["data"].event.operator_id.open_id == "ou_zhang"
    page.locator(".chatlist .chatitem", has_text="张三").wait_for()

    # the bot menu's "contact a human" item
    page.get_by_role("button", name="机器人菜单: 联系人工客服").click()
    [menu] = sim.events("application.bot.menu_v6")
    assert menu["data"].event.event_key == "contact_human"
    assert menu["data"].event.operator.operator_id.open_id == "ou_zhang"

    # a group chat where the user @-mentions the bot
    form.get_by_label("用户 open_id").fill("ou_li")
    form.get_by_label("显示名称（可选）").fill("李四")
    form.get_by_role("button", name="新群聊（@机器人）").click()
    page.locator(".convo-head h2", has_text="李四").wait_for()
    assert page.get_by_label("发送者").input_value() == "ou_li"
    assert page.get_by_role("checkbox", name="@larkdesk").is_checked()
    page.locator("#composer").fill("发票怎么开")
    page.locator("#composer").press("Enter")
    page.locator(".pane-chats .msg.from-me .mention", has_text="@larkdesk").wait_for()
    [event] = sim.events("im.message.receive_v1")
    message = event["data"].event.message
    assert message.chat_type == "group" and message.mentions[0].id.open_id == sim.emulator.config.bot_open_id
    assert json.loads(message.content)["text"].endswith("发票怎么开")
    # both chats are in the list; a click switches between them
    page.locator(".chatlist .chatitem", has_text="张三").click()
    page.locator(".convo-head h2", has_text="张三").wait_for()


def test_a_cardkit_card_updates_in_place_as_it_streams(page, sim: Sim):
    sent = sim.control("POST", "/users/messages", {"open_id": "ou_stream", "text": "退货要多久？"})
    open_page(page, sim, "?chat=ou_stream")
    card = {"schema": "2.0", "config": {"streaming_mode": True, "update_multi": True},
            "body": {"elements": [{"tag": "markdown", "element_id": "answer", "content": "正在"}]}}
    card_id = sim.api("POST", "/open-apis/cardkit/v1/cards",
                      {"type": "card_json", "data": json.dumps(card, ensure_ascii=False)})["card_id"]
    sim.bot_reply(sent["message_id"], "interactive", {"type": "card", "data": {"card_id": card_id}})
    shown = page.locator(".pane-chats .card--streaming")
    shown.wait_for()
    for seq, text in enumerate(["正在为您", "正在为您查询", "正在为您查询：签收后 7 天内"], start=1):
        sim.api("PUT", f"/open-apis/cardkit/v1/cards/{card_id}/elements/answer/content",
                {"content": text, "sequence": seq})
        page.locator(".pane-chats .card-md", has_text=text).wait_for()
    assert page.locator(".pane-chats .card").count() == 1  # one message, updated in place
    sim.api("PATCH", f"/open-apis/cardkit/v1/cards/{card_id}/settings",
            {"settings": json.dumps({"config": {"streaming_mode": False}}), "sequence": 4})
    shown.wait_for(state="detached")
    assert page.locator(".pane-chats .card").inner_text() == "正在为您查询：签收后 7 天内"


def test_card_clicks_send_signed_callbacks_and_show_the_answer(page, sim: Sim):
    sent = sim.control("POST", "/users/messages", {"open_id": "ou_click", "text": "我要反馈"})
    card = {"schema": "2.0", "config": {"update_multi": True},
            "header": {"title": {"tag": "plain_text", "content": "反馈"}, "template": "blue"},
            "body": {"elements": [
                {"tag": "form", "name": "fb", "elements": [
                    {"tag": "input", "name": "comment", "placeholder": {"tag": "plain_text", "content": "意见"}},
                    {"tag": "select_static", "name": "topic", "options": [
                        {"text": {"tag": "plain_text", "content": "物流"}, "value": "logistics"},
                        {"text": {"tag": "plain_text", "content": "退款"}, "value": "refund"}]},
                    {"tag": "button", "name": "send", "text": {"tag": "plain_text", "content": "提交"},
                     "form_action_type": "submit", "behaviors": [{"type": "callback", "value": {"action": "fb"}}]}]},
                {"tag": "collapsible_panel", "header": {"title": {"tag": "plain_text", "content": "更多"}},
                 "elements": [{"tag": "button", "text": {"tag": "plain_text", "content": "不再提醒"},
                               "behaviors": [{"type": "callback", "value": {"action": "mute"}}]}]}]}}
    sim.bot_reply(sent["message_id"], "interactive", card)

    def answer(data):
        action = data.event.action
        if action.value.get("action") == "mute":
            return {"toast": {"type": "info", "content": "好的"}}
        return {"toast": {"type": "success", "content": "已收到反馈"},
                "card": {"type": "raw", "data": {"schema": "2.0", "header": {
                    "title": {"tag": "plain_text", "content": "谢谢"}, "template": "green"},
                    "body": {"elements": [{"tag": "markdown", "content": f"**{action.form_value['comment']}**"}]}}}}

    sim.receiver.card_response = answer
    open_page(page, sim, "?chat=ou_click")
    page.get_by_label("意见").fill("送货很快")
    page.get_by_label("意见").press("Enter")  # Enter in a field does not submit the form (as in Feishu)
    page.locator(".pane-chats select[name=topic]").select_option("refund")
    # keyboard: the collapsed panel opens with Enter, its button fires with Enter
    page.locator(".pane-chats summary", has_text="更多").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="不再提醒").focus()
    page.keyboard.press("Enter")
    page.locator(".toast", has_text="好的").wait_for()
    page.get_by_role("button", name="提交").click()
    page.locator(".toast", has_text="已收到反馈").wait_for()
    page.locator(".pane-chats .card-head--green", has_text="谢谢").wait_for()
    assert page.locator(".pane-chats .card strong").inner_text() == "送货很快"

    # what arrived is what Feishu sends: signed and encrypted (the SDK checked both), operator, form values
    mute, submit = sim.events("card.action.trigger", 2)
    assert len(sim.receiver.of_type("card.action.trigger")) == 2
    assert mute["data"].event.action.value == {"action": "mute"}
    event = submit["data"].event
    assert event.operator.open_id == "ou_click"
    assert event.action.value == {"action": "fb"} and event.action.name == "send"
    assert event.action.form_value == {"comment": "送货很快", "topic": "refund"}
    assert event.context.open_message_id == page.locator(".pane-chats .msg--interactive").get_attribute(
        "data-message-id")


def test_a_live_card_update_keeps_what_the_agent_was_typing(page, sim: Sim):
    sim.control("POST", "/chats", {"chat_id": "oc_agents", "name": "客服组", "members": ["ou_ann"],
                                   "names": {"ou_ann": "Ann"}})

    def card(waited: int) -> str:
        return json.dumps({"schema": "2.0", "config": {"update_multi": True},
                           "header": {"title": {"tag": "plain_text", "content": f"已等待 {waited} 分钟"}},
                           "body": {"elements": [{"tag": "form", "name": "f", "elements": [
                               {"tag": "input", "name": "note",
                                "placeholder": {"tag": "plain_text", "content": "备注"}},
                               {"tag": "button", "name": "ok", "text": {"tag": "plain_text", "content": "解决"},
                                "form_action_type": "submit",
                                "behaviors": [{"type": "callback", "value": {"action": "resolve"}}]}]}]}},
                          ensure_ascii=False)

    sent = sim.api("POST", "/open-apis/im/v1/messages?receive_id_type=chat_id",
                   {"receive_id": "oc_agents", "msg_type": "interactive", "content": card(1)})
    open_page(page, sim, "?as=ou_ann")
    agents = page.locator(".side-agents")
    agents.get_by_label("备注").fill("已补发，单号 SF123")
    reply = agents.get_by_label("以 Ann 身份在话题中回复")
    reply.fill("稍等，我查一下")
    agents.get_by_label("备注").focus()
    # the SLA job redraws the card while the agent types
    sim.api("PATCH", f"/open-apis/im/v1/messages/{sent['message_id']}", {"content": card(5)})
    agents.locator(".card-title", has_text="已等待 5 分钟").wait_for()
    assert agents.get_by_label("备注").input_value() == "已补发，单号 SF123"
    assert page.evaluate("document.activeElement.name") == "note"
    assert reply.input_value() == "稍等，我查一下"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the form's submit button, reached by keyboard
    [click] = sim.events("card.action.trigger")
    assert click["data"].event.action.form_value == {"note": "已补发，单号 SF123"}
    assert click["data"].event.operator.open_id == "ou_ann"
    reply.press("Enter")
    agents.locator(".thread-list .msg", has_text="稍等，我查一下").wait_for()
    [posted] = sim.events("im.message.receive_v1")
    assert posted["data"].event.message.root_id == sent["message_id"]


def test_the_docs_pane_edits_a_doc_and_save_emits_the_drive_event(page, sim: Sim):
    open_page(page, sim, "?pane=docs")
    page.get_by_label("文档标题").first.fill("会员手册")
    page.get_by_role("button", name="新建文档").click()
    editor = page.locator(".doc-editor")
    editor.locator(".doc-title", has_text="会员手册").wait_for()
    doc_id = page.locator(".doclist [aria-current=true]").get_attribute("data-document-id")
    editor.get_by_text("未订阅").wait_for()
    sim.api("POST", f"/open-apis/drive/v1/files/{doc_id}/subscribe")  # as the bot does on /sync
    editor.get_by_text("已订阅").wait_for()

    # type into the empty paragraph, Enter adds the next block, Ctrl+S saves
    first = editor.locator("[data-editable][data-block-id]").first
    first.click()
    page.keyboard.type("积分每年12月31日清零。")
    page.keyboard.press("Enter")
    page.keyboard.type("积分可抵现金。")
    page.keyboard.press("Control+s")
    page.locator(".toast", has_text="已通知机器人").wait_for()
    [event] = sim.events("drive.file.edit_v1")
    assert event["data"].event.file_token == doc_id
    doc = sim.emulator.state.documents[doc_id]
    texts = [b["text"]["elements"][0]["text_run"]["content"] for b in doc.blocks.values() if "text" in b]
    assert texts == ["积分每年12月31日清零。", "积分可抵现金。"]
    editor.get_by_text("版本 2", exact=True).wait_for()

    # an edit elsewhere (the control API) shows up in the open editor
    block = next(iter(b for b in doc.blocks.values() if "text" in b))
    sim.control("POST", f"/docs/{doc_id}/edit", {"ops": [{"op": "update_text", "block_id": block["block_id"],
                                                          "text": "积分每两年清零。"}]})
    editor.get_by_text("积分每两年清零。").wait_for()
    editor.get_by_text("版本 3", exact=True).wait_for()


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def test_desktop_and_phone_layouts(page, sim: Sim):
    sim.control("POST", "/chats", {"chat_id": "oc_agents", "name": "客服组", "members": ["ou_ann"],
                                   "names": {"ou_ann": "Ann"}})
    sim.control("POST", "/users/messages", {"open_id": "ou_layout", "text": "一条很长的消息" * 20})
    open_page(page, sim, "?chat=ou_layout")
    for region in (".chatlist", ".conversation", ".side-agents"):
        box = page.locator(region).bounding_box()
        assert box and box["width"] > 200 and box["x"] + box["width"] <= DESKTOP["width"] + 1, region
    assert _overflow(page) == 0
    assert not page.locator(".phone-tabs").is_visible()

    page.set_viewport_size(PHONE)
    tabs = page.locator(".phone-tabs")
    assert tabs.is_visible() and _overflow(page) == 0
    assert page.locator(".conversation").is_visible() and not page.locator(".side-agents").is_visible()
    assert page.locator(".pane-chats .msg-bubble").bounding_box()["width"] <= PHONE["width"]
    # arrow keys move between the tabs (WAI-ARIA tabs), each showing its pane
    tabs.get_by_role("tab", name="会话").focus()
    page.keyboard.press("ArrowRight")
    assert page.locator(".side-agents").is_visible() and not page.locator(".conversation").is_visible()
    assert page.locator(".side-agents h2", has_text="客服组").is_visible()
    page.keyboard.press("ArrowRight")
    assert page.locator(".side-docs").is_visible() and _overflow(page) == 0
    page.keyboard.press("ArrowRight")
    assert page.locator(".conversation").is_visible()
    assert page.locator("#composer").bounding_box()["width"] > 200
