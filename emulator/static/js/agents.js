// The agent side: the agent group's messages (escalation cards first of all), each with its thread, acting
// as any member of the group. Two tabs acting as two agents can race for one Claim.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { clear, composer, el, errorToast, MessageList } from "./ui.js";

export class AgentsPane {
  constructor(root, store, app) {
    this.root = root;
    this.store = store;
    this.app = app;
    this.groupId = app.param("group");
    this.actingAs = app.param("as") || sessionStorage.getItem("larkdesk.as");
    this.threads = new Map(); // root message_id -> {section, list}
  }

  /** The group shown as the agent group: the one picked here, else the one `larkdesk serve` creates. */
  group() {
    return this.store.chats.get(this.groupId) || this.store.chats.get(this.store.defaults.agent_chat_id) || null;
  }

  members() {
    const group = this.group();
    return group ? group.members.filter((m) => !this.store.isBot(m)) : [];
  }

  /** The agent this tab acts as: the chosen one while they are a member, else the first member. */
  agent() {
    const members = this.members();
    if (members.includes(this.actingAs)) return this.actingAs;
    return members.find((m) => m !== this.store.defaults.admin_open_id) || members[0] || null;
  }

  isThreadReply(msg) {
    const root = msg.root_id && msg.root_id !== msg.message_id ? this.store.messages.get(msg.root_id) : null;
    return Boolean(root && root.chat_id === msg.chat_id);
  }

  handle(change) {
    const group = this.group();
    if (change.kind === "snapshot") this.render();
    else if (change.kind === "chat") {
      if (!this.list) this.render(); // the agent group may just have been created
      else if (this.store.chats.get(change.chatId)?.chat_type === "group") this.renderHeader();
    } else if (change.kind === "message" && group && change.chatId === group.chat_id) {
      const msg = this.store.messages.get(change.id);
      if (this.isThreadReply(msg)) {
        const thread = this.threads.get(msg.root_id);
        if (thread) {
          if (change.isNew) thread.list.append(msg);
          else thread.list.update(msg);
          thread.section.hidden = false;
          this.countReplies(msg.root_id);
        }
      } else if (change.isNew) this.list.append(msg);
      else this.list.update(msg);
      this.emptyNote.hidden = true;
    }
  }

  render() {
    clear(this.root);
    this.threads.clear();
    this.list = null;
    this.header = el("header", { class: "convo-head" });
    this.root.appendChild(this.header);
    const group = this.group();
    if (!group) {
      this.root.appendChild(el("p", { class: "empty" }, t("no_agent_group")));
      this.header.appendChild(this.groupPicker(null));
      return;
    }
    this.renderHeader();
    const ol = el("ol", { class: "messages", "aria-live": "polite", "aria-label": t("agent_group") });
    this.emptyNote = el("p", { class: "empty" }, t("empty_chat"));
    this.root.appendChild(el("div", { class: "scroll convo-scroll" }, this.emptyNote, ol));
    this.list = new MessageList(ol, { store: this.store, me: () => this.agent(), operator: () => this.agent(),
      quote: false, ctx: this.app.renderContext(), decorate: (item, msg) => this.attachThread(item, msg) });
    const top = this.store.messagesOf(group.chat_id).filter((m) => !this.isThreadReply(m));
    this.list.render(top);
    this.emptyNote.hidden = top.length > 0;
    this.root.appendChild(composer({ label: t("group_post"), placeholder: t("group_post"), compact: true,
      send: (text) => api.sendMessage({ open_id: this.agent(), text, chat_type: "group", chat_id: group.chat_id,
        mention_bot: true }) }));
  }

  renderHeader() {
    clear(this.header);
    const group = this.group();
    if (!group) return;
    const agent = this.agent();
    const asSelect = el("select", { class: "field", name: "act_as", "aria-label": t("act_as") },
      this.members().map((m) => el("option", { value: m, selected: m === agent }, `${this.store.name(m)} (${m})`)));
    asSelect.addEventListener("change", () => {
      this.actingAs = asSelect.value;
      sessionStorage.setItem("larkdesk.as", this.actingAs);
      this.app.remember("as", this.actingAs);
      this.render();
    });
    this.header.append(
      el("div", { class: "convo-title" }, el("h2", {}, group.name || group.chat_id),
        el("p", { class: "muted" }, t("group_chat", { n: group.members.length }))),
      el("div", { class: "row wrap" },
        this.groupPicker(group),
        el("label", { class: "inline" }, el("span", {}, t("act_as")), asSelect),
        this.addAgentForm(group)),
    );
  }

  /** Any group chat can be watched as the agent group (a bot wired to another FEISHU_AGENT_CHAT_ID). */
  groupPicker(group) {
    const groups = [...this.store.chats.values()].filter((c) => c.chat_type === "group");
    const select = el("select", { class: "field", name: "agent_group", "aria-label": t("agent_group_pick") },
      group ? null : el("option", { value: "" }, "—"),
      groups.map((g) => el("option", { value: g.chat_id, selected: g.chat_id === group?.chat_id }, g.name || g.chat_id)));
    select.addEventListener("change", () => {
      this.groupId = select.value;
      this.app.remember("group", this.groupId);
      this.render();
      this.app.chats.renderList();
    });
    return el("label", { class: "inline" }, el("span", {}, t("agent_group_pick")), select);
  }

  addAgentForm(group) {
    const openId = el("input", { class: "field", name: "agent_open_id", placeholder: "ou_…",
      "aria-label": t("add_agent_id"), autocomplete: "off" });
    const name = el("input", { class: "field", name: "agent_name", placeholder: t("add_agent_name"),
      "aria-label": t("add_agent_name"), autocomplete: "off" });
    const form = el("form", { class: "row" }, openId, name,
      el("button", { type: "submit", class: "btn" }, t("add_agent")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const id = openId.value.trim();
      if (!id) return;
      try {
        await api.addMembers(group.chat_id, [id], name.value.trim() ? { [id]: name.value.trim() } : undefined);
        this.actingAs = id;
        sessionStorage.setItem("larkdesk.as", id);
      } catch (error) {
        errorToast(error);
      }
    });
    return el("details", { class: "add-agent" }, el("summary", {}, t("add_agent")), form);
  }

  /** Every top-level message carries its thread: the replies and a box to reply as the acting agent. */
  attachThread(item, msg) {
    let thread = this.threads.get(msg.message_id);
    if (!thread) {
      const ol = el("ol", { class: "messages thread-list", "aria-label": t("thread") });
      const count = el("p", { class: "thread-count muted" });
      const list = new MessageList(ol, { store: this.store, me: () => this.agent(), operator: () => this.agent(),
        quote: false, ctx: this.app.renderContext() });
      const box = composer({ label: t("thread_reply_label", { name: this.store.name(this.agent()) }),
        placeholder: t("thread_reply"), compact: true,
        send: (text) => api.sendMessage({ open_id: this.agent(), text, chat_type: "group", chat_id: msg.chat_id,
          root_id: msg.message_id }) });
      box.input.name = "thread_reply";
      const section = el("section", { class: "thread", "aria-label": t("thread") }, count, ol, box);
      thread = { section, list, count };
      this.threads.set(msg.message_id, thread);
      const replies = this.store.messagesOf(msg.chat_id).filter((m) => m.root_id === msg.message_id
        && m.message_id !== msg.message_id);
      list.render(replies);
      section.hidden = !(msg.msg_type === "interactive" || replies.length);
    }
    item.classList.add("has-thread");
    item.appendChild(thread.section);
    this.countReplies(msg.message_id);
  }

  countReplies(rootId) {
    const thread = this.threads.get(rootId);
    const n = thread ? thread.list.items.size : 0;
    if (thread) thread.count.textContent = n ? `${t("thread")} · ${t("thread_replies", { n })}` : t("thread");
  }
}
