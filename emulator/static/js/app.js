// The simulator page: three panes (chats, agent group, docs) over one live copy of the emulator's state.
// URL parameters pick the start: ?lang=en, ?chat=<chat_id or open_id>, ?as=<agent open_id>, ?group=,
// ?doc=, ?pane=chats|agents|docs (the pane a phone-width screen shows).
import { AgentsPane } from "./agents.js";
import { ChatsPane } from "./chats.js";
import { DocsPane } from "./docs.js";
import { lang, setLang, t } from "./i18n.js";
import { Store } from "./store.js";
import { clear, el } from "./ui.js";

const PANES = ["chats", "agents", "docs"];

class App {
  constructor() {
    this.params = new URLSearchParams(location.search);
    setLang(this.params.get("lang") || localStorage.getItem("larkdesk.lang") || "zh-CN");
    this.store = new Store();
    this.pane = PANES.includes(this.params.get("pane")) ? this.params.get("pane") : "chats";
    this.sideTab = this.pane === "docs" ? "docs" : "agents";
    this.chats = new ChatsPane(document.getElementById("chats"), this.store, this);
    this.agents = new AgentsPane(document.getElementById("agents"), this.store, this);
    this.docs = new DocsPane(document.getElementById("docs"), this.store, this);
    this.store.listen((change) => this.handle(change));
  }

  param(name) {
    return this.params.get(name);
  }

  /** Keeps the choice in the address, so a reload or a copied link opens the same view. */
  remember(name, value) {
    if (value) this.params.set(name, value);
    else this.params.delete(name);
    history.replaceState(null, "", `?${this.params}`);
  }

  renderContext() {
    return { lang: lang(), userName: (id) => this.store.name(id), allLabel: lang() === "en" ? "everyone" : "所有人" };
  }

  agentGroupId() {
    return this.agents.group()?.chat_id || null;
  }

  openAdminChat(prefill) {
    this.showPane("chats");
    this.chats.openAdmin(prefill);
  }

  start() {
    this.renderChrome();
    this.store.connect();
  }

  handle(change) {
    if (change.kind === "connection") {
      this.renderStatus();
      return;
    }
    if (change.kind === "snapshot") {
      const wanted = this.param("chat");
      if (wanted && !this.chats.current) this.chats.current = this.store.chats.has(wanted) ? { chatId: wanted }
        : this.store.p2pChatOf(wanted) ? { chatId: this.store.p2pChatOf(wanted).chat_id } : { draft: wanted };
    }
    this.agents.handle(change);
    this.chats.handle(change);
    this.docs.handle(change);
  }

  showPane(pane) {
    this.pane = pane;
    if (pane !== "chats") this.sideTab = pane;
    document.body.dataset.pane = pane;
    document.body.dataset.side = this.sideTab;
    this.remember("pane", pane === "chats" ? null : pane);
    for (const tab of document.querySelectorAll("[data-pane-tab]")) {
      const selected = tab.dataset.paneTab === pane || (tab.closest(".side-tabs") && tab.dataset.paneTab === this.sideTab);
      tab.setAttribute("aria-selected", selected ? "true" : "false");
      tab.tabIndex = selected ? 0 : -1;
    }
  }

  tabList(className, label, panes) {
    const list = el("div", { class: className, role: "tablist", "aria-label": label });
    for (const pane of panes) {
      const tab = el("button", { type: "button", role: "tab", class: "tab", "data-pane-tab": pane,
        "aria-controls": pane }, t(`pane_${pane}`));
      tab.addEventListener("click", () => this.showPane(pane));
      list.appendChild(tab);
    }
    // Arrow keys move between tabs (the WAI-ARIA tabs pattern); Tab leaves the list.
    list.addEventListener("keydown", (e) => {
      const tabs = [...list.querySelectorAll("[role=tab]")];
      const at = tabs.indexOf(document.activeElement);
      if (at < 0 || !["ArrowLeft", "ArrowRight", "Home", "End"].includes(e.key)) return;
      e.preventDefault();
      const next = e.key === "Home" ? 0 : e.key === "End" ? tabs.length - 1
        : (at + (e.key === "ArrowRight" ? 1 : -1) + tabs.length) % tabs.length;
      tabs[next].focus();
      tabs[next].click();
    });
    return list;
  }

  renderChrome() {
    document.title = `${t("title")} · larkdesk`;
    const top = clear(document.getElementById("topbar"));
    const langButton = el("button", { type: "button", class: "btn", id: "lang", lang: lang() === "en" ? "zh-CN" : "en",
      "aria-label": t("switch_lang_label") }, t("switch_lang"));
    langButton.addEventListener("click", () => this.switchLang());
    this.statusEl = el("span", { class: "conn", role: "status" });
    top.append(
      el("a", { class: "skip", href: "#composer" }, t("skip_composer")),
      el("div", { class: "brand" }, el("h1", {}, t("title")), el("span", { class: "muted" }, t("subtitle"))),
      this.tabList("phone-tabs", t("panes"), PANES),
      this.statusEl, langButton,
    );
    const side = clear(document.getElementById("side-tabs"));
    side.appendChild(this.tabList("side-tabs", t("side_tabs"), ["agents", "docs"]));
    document.getElementById("chats").setAttribute("aria-label", t("pane_chats"));
    document.getElementById("agents").setAttribute("aria-label", t("pane_agents"));
    document.getElementById("docs").setAttribute("aria-label", t("pane_docs"));
    this.showPane(this.pane);
    this.renderStatus();
  }

  renderStatus() {
    if (!this.statusEl) return;
    const live = this.store.connected;
    this.statusEl.className = `conn ${live ? "conn--live" : "conn--down"}`;
    this.statusEl.textContent = live ? t("connected") : t("reconnecting");
    document.body.dataset.live = live ? "1" : "0";
  }

  switchLang() {
    setLang(lang() === "en" ? "zh-CN" : "en");
    localStorage.setItem("larkdesk.lang", lang());
    this.remember("lang", lang() === "en" ? "en" : null);
    this.renderChrome();
    if (this.store.loaded) this.handle({ kind: "snapshot" });
    document.getElementById("lang").focus();
  }
}

const app = new App();
window.larkdeskSimulator = app; // for a look from the browser's console
app.start();
