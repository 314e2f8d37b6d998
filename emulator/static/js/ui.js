// DOM helpers shared by the panes: building elements, toasts, card actions, keyed message lists.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { messageBody } from "./messages.js";
import { h, toDom } from "./vdom.js";

/** An element from h()-style arguments; card actions inside are wired by `bind`. */
export function el(tag, attrs, ...children) {
  return toDom(h(tag, attrs, ...children));
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

const TOAST_MS = 5000;

/** A toast in this tab only, as Feishu shows a callback's toast to the one who clicked. */
export function toast(type, text) {
  const box = document.getElementById("toasts");
  const kind = ["success", "error", "warning", "info"].includes(type) ? type : "info";
  const item = el("div", { class: `toast toast--${kind}`, role: kind === "error" ? "alert" : "status" }, text);
  box.appendChild(item);
  setTimeout(() => item.remove(), TOAST_MS);
}

export function errorToast(error) {
  toast("error", t("error", { error: error.message || String(error) }));
}

/** What a Feishu form submits: inputs as text, selects as values (a list when multiple), checkers as booleans. */
export function formValues(form) {
  const out = {};
  for (const field of form.querySelectorAll("input[name], textarea[name], select[name]")) {
    if (field.type === "checkbox") out[field.name] = field.checked;
    else if (field.multiple) out[field.name] = [...field.selectedOptions].map((o) => o.value);
    else out[field.name] = field.value;
  }
  return out;
}

/**
 * Wires a card's interactive elements: a click sends card.action.trigger through the emulator as `operator()`
 * (a signed callback to the bot, exactly what `POST /_emulator/cards/click` does for a script).
 * strict:false: a click on a card this tab shows is delivered even if the card changed meanwhile, as in Feishu.
 */
export function cardBinder(messageId, operator) {
  return (node, vnode) => {
    const action = vnode.action;
    const fire = async (event) => {
      event?.preventDefault();
      if (action.kind === "url") {
        window.open(action.url, "_blank", "noopener");
        return;
      }
      const form = node.closest("form");
      if (action.kind === "reset") {
        form?.reset();
        return;
      }
      if (action.confirm && !window.confirm(action.confirm)) return;
      const body = { message_id: messageId, open_id: operator(), value: action.value, tag: action.tag, strict: false };
      if (action.name) body.name = action.name;
      if (action.kind === "submit" && form) body.form_value = formValues(form);
      if (action.kind === "select") {
        if (node.multiple) body.options = [...node.selectedOptions].map((o) => o.value);
        else if (node.value === "") return;
        else body.option = node.value;
        const url = action.urls?.[node.value];
        if (url) {
          window.open(url, "_blank", "noopener");
          return;
        }
      }
      node.setAttribute("aria-busy", "true");
      try {
        const result = await api.clickCard(body);
        if (result.toast) toast(result.toast.type, result.toast.content);
        else if (result.status !== 200 || result.error) {
          toast("error", t("callback_failed", { status: result.status ?? "-", error: result.error || "" }));
        }
      } catch (error) {
        errorToast(error);
      } finally {
        node.removeAttribute("aria-busy");
      }
    };
    if (action.kind === "select") node.addEventListener("change", fire);
    else {
      node.addEventListener("click", fire);
      if (node.getAttribute("role") === "button") {
        node.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") fire(e);
        });
      }
    }
  };
}

function formatTime(ms) {
  const d = new Date(Number(ms));
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** One message as a list item. `view`: {store, me(), operator(), ctx, quote}. */
export function messageElement(msg, view) {
  const { store } = view;
  const senderId = msg.sender.type === "app" ? msg.sender.id : msg.sender.open_id;
  const fromBot = msg.sender.type === "app";
  const mine = !fromBot && senderId === view.me();
  const cls = `msg ${fromBot ? "from-bot" : mine ? "from-me" : "from-other"} msg--${msg.msg_type}`;
  const item = toDom(h("li", { class: cls, "data-message-id": msg.message_id, "data-sender": senderId,
    "data-parent-id": msg.parent_id || null, "data-root-id": msg.root_id || null },
  h("div", { class: "msg-meta" },
    h("span", { class: "msg-sender" }, store.name(senderId)),
    fromBot ? h("span", { class: "badge" }, t("bot")) : null,
    h("time", { class: "msg-time" }, formatTime(msg.create_time)),
    msg.updated ? h("span", { class: "msg-edited" }, t("updated")) : null),
  view.quote && msg.parent_id && store.messages.has(msg.parent_id) ? quoteOf(store.messages.get(msg.parent_id), store)
    : null,
  h("div", { class: "msg-bubble" }, messageBody(msg, view.ctx))), cardBinder(msg.message_id, view.operator));
  return item;
}

function quoteOf(parent, store) {
  const who = parent.sender.type === "app" ? store.name(parent.sender.id) : store.name(parent.sender.open_id);
  const text = (parent.text || "").replace(/\s+/g, " ");
  return h("div", { class: "msg-quote" }, t("reply_to", { name: who, text: text.length > 40 ? `${text.slice(0, 40)}…` : text }));
}

/**
 * A keyed list of messages: a change re-renders only that message, keeping what the user typed into the
 * card's form fields and where the focus was, so a live card update never eats a half-written note.
 */
export class MessageList {
  constructor(list, view) {
    this.list = list;
    this.view = view; // {store, me(), operator(), ctx, quote, decorate(item, msg)}
    this.items = new Map();
    list.addEventListener("input", (e) => {
      if (e.target.name) e.target.dataset.touched = "1";
    });
    // A list that owns its scroller stays at the newest message when the screen changes size (a phone
    // turned, a pane shown again) unless the reader had scrolled up.
    const scroller = list.closest(".scroll");
    if (scroller && typeof ResizeObserver === "function") {
      this.pinned = true;
      scroller.addEventListener("scroll", () => {
        this.pinned = this.nearBottom();
      });
      new ResizeObserver(() => {
        if (this.pinned) this.scrollToBottom();
      }).observe(scroller);
    }
  }

  nearBottom() {
    const scroller = this.list.closest(".scroll") || this.list;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  scrollToBottom() {
    const scroller = this.list.closest(".scroll") || this.list;
    scroller.scrollTop = scroller.scrollHeight;
  }

  render(messages) {
    clear(this.list);
    this.items.clear();
    for (const msg of messages) this.append(msg);
    this.scrollToBottom();
  }

  build(msg) {
    const item = messageElement(msg, this.view);
    this.view.decorate?.(item, msg);
    return item;
  }

  append(msg) {
    const stick = this.nearBottom();
    const item = this.build(msg);
    this.items.set(msg.message_id, { item, sig: JSON.stringify(msg) });
    this.list.appendChild(item);
    if (stick) this.scrollToBottom();
  }

  update(msg) {
    const entry = this.items.get(msg.message_id);
    if (!entry) return this.append(msg);
    const sig = JSON.stringify(msg);
    if (sig === entry.sig) return undefined;
    const stick = this.nearBottom();
    const typed = {};
    for (const field of entry.item.querySelectorAll("[name][data-touched]")) typed[field.name] = field.value;
    const focused = entry.item.contains(document.activeElement) ? document.activeElement.getAttribute("name") : null;
    const item = this.build(msg);
    for (const [name, value] of Object.entries(typed)) {
      const field = item.querySelector(`[name="${CSS.escape(name)}"]`);
      if (field) {
        field.value = value;
        field.dataset.touched = "1";
      }
    }
    entry.item.replaceWith(item);
    this.items.set(msg.message_id, { item, sig });
    if (focused) item.querySelector(`[name="${CSS.escape(focused)}"]`)?.focus();
    if (stick) this.scrollToBottom();
    return undefined;
  }
}

/** A message box: Enter sends, Shift+Enter adds a line. `send(text)` returns a promise. */
export function composer({ label, placeholder, send, extra = [], id = null, compact = false }) {
  const area = el("textarea", { class: "composer-input", rows: compact ? 1 : 2, "aria-label": label,
    placeholder, id });
  const button = el("button", { type: "submit", class: "btn btn--primary" }, t("send"));
  const form = el("form", { class: `composer${compact ? " composer--compact" : ""}` });
  for (const node of extra) form.appendChild(node);
  form.append(area, button);
  const submit = async () => {
    const text = area.value.trim();
    if (!text) return;
    button.disabled = true;
    area.value = ""; // at once: the live feed may re-render the pane before the send returns
    try {
      await send(text);
    } catch (error) {
      if (!area.value) area.value = text;
      errorToast(error);
    } finally {
      button.disabled = false;
      area.focus();
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  form.input = area;
  return form;
}
