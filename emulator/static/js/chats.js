// The customer side: a chat list (customers' direct chats with the bot, group chats, the admin chat) and
// one conversation with its message box. Everything is sent through the control API as the chat's user.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { clear, composer, el, errorToast, MessageList } from "./ui.js";

const ADMIN_COMMANDS = ["/status", "/stats", "/docs", "/review", "/help"];
const MENU_HUMAN_KEY = "contact_human";

function randomId() {
  return `ou_cust_${Math.random().toString(36).slice(2, 8)}`;
}

export class ChatsPane {
  constructor(root, store, app) {
    this.root = root;
    this.store = store;
    this.app = app;
    this.current = null; // {chatId, openId?} or {draft: open_id} (a direct chat not created yet)
    this.senders = new Map(); // group chat_id -> open_id the user speaks as
    this.composerText = "";
  }

  // which chat

  select(target) {
    this.current = target;
    this.app.remember("chat", target.chatId || target.draft);
    this.renderConversation();
    this.renderList();
  }

  /** Opens a chat by chat_id or by a user's open_id (their direct chat, or a draft until they write). */
  open(idOrOpenId, prefill = "") {
    if (this.store.chats.has(idOrOpenId)) this.select({ chatId: idOrOpenId });
    else {
      const chat = this.store.p2pChatOf(idOrOpenId);
      this.select(chat ? { chatId: chat.chat_id } : { draft: idOrOpenId });
    }
    if (prefill) {
      this.box.input.value = prefill;
      this.box.input.focus();
    }
  }

  openAdmin(prefill = "") {
    this.open(this.store.defaults.admin_open_id, prefill);
  }

  chat() {
    return this.current?.chatId ? this.store.chats.get(this.current.chatId) : null;
  }

  /** Who the user is in the open chat: the p2p chat's owner, or the chosen member of a group. */
  me() {
    const chat = this.chat();
    if (!chat) return this.current?.draft || this.current?.openId || null;
    if (chat.chat_type === "p2p") return chat.p2p_open_id;
    const chosen = this.senders.get(chat.chat_id);
    const members = this.humanMembers(chat);
    return chosen && members.includes(chosen) ? chosen : members[0] || null;
  }

  humanMembers(chat) {
    return chat.members.filter((m) => !this.store.isBot(m));
  }

  // store changes

  handle(change) {
    if (change.kind === "snapshot") {
      if (this.current?.chatId && !this.store.chats.has(this.current.chatId)) this.current = null;
      this.render();
    } else if (change.kind === "chat") {
      const chat = this.store.chats.get(change.chatId);
      if (this.current?.draft && chat.chat_type === "p2p" && chat.p2p_open_id === this.current.draft) {
        this.current = { chatId: chat.chat_id };
        this.renderConversation();
      } else if (change.chatId === this.current?.chatId) {
        // drawn before the feed brought the chat (the create call returned first): draw it whole now
        if (this.drawnWithChat) this.renderHeader();
        else this.renderConversation();
      }
      this.renderList();
    } else if (change.kind === "message" && change.chatId === this.current?.chatId) {
      const msg = this.store.messages.get(change.id);
      if (change.isNew) this.list.append(msg);
      else this.list.update(msg);
      this.emptyNote.hidden = true;
    }
  }

  // rendering

  render() {
    clear(this.root);
    this.listEl = el("nav", { class: "chatlist scroll", "aria-label": t("chat_list") });
    this.convo = el("section", { class: "conversation", "aria-label": t("pane_chats") });
    this.root.append(this.listEl, this.convo);
    this.renderList();
    this.renderConversation();
  }

  chatLabel(chat) {
    if (chat.chat_type === "p2p") return this.store.name(chat.p2p_open_id);
    return chat.name || chat.chat_id;
  }

  renderList() {
    if (!this.listEl) return;
    clear(this.listEl);
    const { store } = this;
    const admin = store.defaults.admin_open_id;
    const agentGroup = this.app.agentGroupId();
    const p2p = [...store.chats.values()].filter((c) => c.chat_type === "p2p" && c.p2p_open_id !== admin);
    const groups = [...store.chats.values()].filter((c) => c.chat_type === "group" && c.chat_id !== agentGroup);
    const item = (label, target, extra = null) => {
      const active = (target.chatId && target.chatId === this.current?.chatId)
        || (target.draft && target.draft === this.current?.draft);
      const button = el("button", { type: "button", class: "chatitem", "aria-current": active ? "true" : null,
        "data-chat-id": target.chatId || null, "data-open-id": target.draft || null }, label, extra);
      button.addEventListener("click", () => this.select(target));
      return el("li", {}, button);
    };
    const adminChat = store.p2pChatOf(admin);
    const adminList = el("ul", { class: "chatitems" },
      item(t("admin_chat"), adminChat ? { chatId: adminChat.chat_id } : { draft: admin },
        el("span", { class: "badge" }, t("admin_badge"))));
    const customers = el("ul", { class: "chatitems" }, p2p.map((c) => item(this.chatLabel(c), { chatId: c.chat_id })));
    if (this.current?.draft && this.current.draft !== admin) {
      customers.appendChild(item(this.current.draft, { draft: this.current.draft }));
    }
    const groupList = el("ul", { class: "chatitems" }, groups.map((c) => item(this.chatLabel(c), { chatId: c.chat_id })));
    this.listEl.append(
      el("h2", { class: "listhead" }, t("customers")), customers,
      el("h2", { class: "listhead" }, t("groups")), groupList,
      el("h2", { class: "listhead" }, t("admin_chat")), adminList,
      this.newChatForm(),
    );
  }

  newChatForm() {
    const openId = el("input", { class: "field", name: "new_open_id", "aria-label": t("new_open_id"),
      placeholder: "ou_…", autocomplete: "off" });
    const name = el("input", { class: "field", name: "new_name", "aria-label": t("new_name"),
      placeholder: t("new_name"), autocomplete: "off" });
    const customer = el("button", { type: "submit", class: "btn" }, t("new_customer"));
    const group = el("button", { type: "button", class: "btn" }, t("new_group"));
    const form = el("form", { class: "newchat", "aria-label": t("new_chat") },
      el("h2", { class: "listhead" }, t("new_chat")), openId, name, el("div", { class: "row" }, customer, group));
    const id = () => {
      const value = openId.value.trim();
      return value.startsWith("ou_") ? value : randomId();
    };
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const who = id();
      try {
        // Feishu tells the bot when a user opens its chat (it may welcome them)
        await api.enterP2p(who, name.value.trim() || undefined);
        openId.value = "";
        name.value = "";
        this.open(who);
      } catch (error) {
        errorToast(error);
      }
    });
    group.addEventListener("click", async () => {
      const who = id();
      const label = name.value.trim();
      try {
        const chat = await api.createGroup({ name: `${label || who} · ${t("groups")}`,
          members: [who, this.store.config.bot_open_id], names: label ? { [who]: label } : undefined });
        this.senders.set(chat.chat_id, who);
        this.select({ chatId: chat.chat_id, openId: who });
      } catch (error) {
        errorToast(error);
      }
    });
    return form;
  }

  renderHeader() {
    if (!this.header) return;
    clear(this.header);
    const chat = this.chat();
    const me = this.me();
    if (!this.current) return;
    const title = chat ? this.chatLabel(chat) : this.current.draft;
    const sub = !chat ? t("draft_chat")
      : chat.chat_type === "p2p" ? t("p2p_with", { bot: this.store.config.bot_name })
        : t("group_chat", { n: chat.members.length });
    this.header.append(el("div", { class: "convo-title" }, el("h2", {}, title), el("p", { class: "muted" }, sub)));
    if (chat && chat.chat_type === "group") {
      const select = el("select", { class: "field", name: "send_as", "aria-label": t("send_as") },
        this.humanMembers(chat).map((m) => el("option", { value: m, selected: m === me }, this.store.name(m))));
      select.addEventListener("change", () => {
        this.senders.set(chat.chat_id, select.value);
        this.renderConversation();
      });
      this.header.append(el("label", { class: "inline" }, el("span", {}, t("send_as")), select));
    } else if (me) {
      this.header.append(el("p", { class: "muted" }, t("you_are", { name: this.store.name(me) })));
    }
  }

  renderConversation() {
    if (!this.convo) return;
    if (this.box) this.composerText = this.box.input.value;
    clear(this.convo);
    this.header = el("header", { class: "convo-head" });
    this.convo.appendChild(this.header);
    if (!this.current) {
      this.convo.appendChild(el("p", { class: "empty" }, t("no_chat")));
      this.box = null;
      return;
    }
    this.renderHeader();
    const chat = this.chat();
    const me = this.me();
    this.drawnWithChat = Boolean(chat);
    const ol = el("ol", { class: "messages", "aria-live": "polite", "aria-label": t("pane_chats") });
    this.emptyNote = el("p", { class: "empty" }, t("empty_chat"));
    this.convo.append(el("div", { class: "scroll convo-scroll" }, this.emptyNote, ol));
    this.list = new MessageList(ol, { store: this.store, me: () => this.me(), operator: () => this.me(), quote: true,
      ctx: this.app.renderContext() });
    const messages = this.current.chatId ? this.store.messagesOf(this.current.chatId) : [];
    this.list.render(messages);
    this.emptyNote.hidden = messages.length > 0;
    this.convo.appendChild(this.tools(chat, me));
    this.box = composer({ label: t("composer"), placeholder: t("composer_hint"), id: "composer",
      extra: this.composerExtras(chat), send: (text) => this.send(text) });
    this.box.input.value = this.composerText;
    this.convo.appendChild(this.box);
  }

  composerExtras(chat) {
    if (!chat || chat.chat_type !== "group") return [];
    this.mention = el("input", { type: "checkbox", name: "mention_bot", checked: true });
    return [el("label", { class: "inline mention-toggle" }, this.mention,
      el("span", {}, t("mention_bot", { bot: this.store.config.bot_name })))];
  }

  tools(chat, me) {
    const bar = el("div", { class: "chat-tools" });
    if (me && me === this.store.defaults.admin_open_id) {
      bar.appendChild(el("span", { class: "muted" }, t("commands")));
      for (const command of ADMIN_COMMANDS) {
        const chip = el("button", { type: "button", class: "chip" }, command);
        chip.addEventListener("click", () => this.send(command).catch(errorToast));
        bar.appendChild(chip);
      }
    } else if (me && (!chat || chat.chat_type === "p2p")) {
      const human = el("button", { type: "button", class: "chip" }, `☰ ${t("menu_human")}`);
      human.setAttribute("aria-label", `${t("menu")}: ${t("menu_human")}`);
      human.addEventListener("click", () => api.menu(me, MENU_HUMAN_KEY).catch(errorToast));
      bar.appendChild(human);
    }
    return bar;
  }

  async send(text) {
    const chat = this.chat();
    const me = this.me();
    const body = { open_id: me, text };
    if (chat && chat.chat_type === "group") {
      Object.assign(body, { chat_type: "group", chat_id: chat.chat_id, mention_bot: Boolean(this.mention?.checked) });
    }
    const sent = await api.sendMessage(body);
    // The live feed may not have brought the new chat yet: keep who writes in it meanwhile.
    if (this.current?.draft === me) this.select({ chatId: sent.chat_id, openId: me });
    return sent;
  }

  focusComposer() {
    this.box?.input.focus();
  }
}
