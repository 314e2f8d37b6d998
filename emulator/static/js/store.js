// What the page knows: a copy of the emulator's state, kept current by the live feed (Server-Sent Events).
// The feed starts with a snapshot; EventSource reconnects by itself and each reconnect brings a new one.

export const STREAM_URL = "/_emulator/stream";

export class Store {
  constructor() {
    this.config = {};
    this.defaults = {};
    this.users = new Map();
    this.chats = new Map();
    this.messages = new Map();
    this.order = new Map(); // chat_id -> message ids, oldest first
    this.docs = new Map();
    this.connected = false;
    this.loaded = false;
    this.listeners = new Set();
  }

  listen(fn) {
    this.listeners.add(fn);
  }

  emit(change) {
    for (const fn of this.listeners) fn(change);
  }

  connect(url = STREAM_URL) {
    const source = new EventSource(url);
    const on = (kind, apply) => source.addEventListener(kind, (e) => apply.call(this, JSON.parse(e.data)));
    on("snapshot", this.loadSnapshot);
    on("chat", this.applyChat);
    on("message", this.applyMessage);
    on("doc", this.applyDoc);
    source.addEventListener("open", () => this.setConnected(true));
    source.addEventListener("error", () => this.setConnected(false));
    this.source = source;
  }

  setConnected(connected) {
    if (connected !== this.connected) {
      this.connected = connected;
      this.emit({ kind: "connection" });
    }
  }

  loadSnapshot(snap) {
    this.config = snap.config;
    this.defaults = snap.defaults;
    this.users = new Map(Object.entries(snap.users));
    this.chats = new Map(snap.chats.map((c) => [c.chat_id, c]));
    this.messages = new Map();
    this.order = new Map();
    for (const msg of snap.messages) this.storeMessage(msg);
    this.docs = new Map(snap.docs.map((d) => [d.document_id, d]));
    this.loaded = true;
    this.setConnected(true);
    this.emit({ kind: "snapshot" });
  }

  applyChat(chat) {
    this.chats.set(chat.chat_id, chat);
    for (const [openId, name] of Object.entries(chat.member_names || {})) this.users.set(openId, name);
    this.emit({ kind: "chat", chatId: chat.chat_id });
  }

  applyMessage({ message, sender_name: senderName }) {
    if (senderName && message.sender.open_id) this.users.set(message.sender.open_id, senderName);
    const isNew = this.storeMessage(message);
    this.emit({ kind: "message", id: message.message_id, chatId: message.chat_id, isNew });
  }

  storeMessage(msg) {
    const isNew = !this.messages.has(msg.message_id);
    this.messages.set(msg.message_id, msg);
    if (isNew) {
      if (!this.order.has(msg.chat_id)) this.order.set(msg.chat_id, []);
      this.order.get(msg.chat_id).push(msg.message_id);
    }
    return isNew;
  }

  applyDoc(doc) {
    if (doc.deleted) this.docs.delete(doc.document_id);
    else this.docs.set(doc.document_id, doc);
    this.emit({ kind: "doc", id: doc.document_id });
  }

  messagesOf(chatId) {
    return (this.order.get(chatId) || []).map((id) => this.messages.get(id));
  }

  isBot(openIdOrAppId) {
    return openIdOrAppId === this.config.bot_open_id || openIdOrAppId === this.config.app_id;
  }

  name(id) {
    if (this.isBot(id)) return this.config.bot_name || "bot";
    return this.users.get(id) || id;
  }

  p2pChatOf(openId) {
    for (const chat of this.chats.values()) if (chat.chat_type === "p2p" && chat.p2p_open_id === openId) return chat;
    return null;
  }
}
