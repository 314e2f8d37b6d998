// The docs pane: the emulator's documents as a small Feishu-like editor. Saving sends the edit ops to
// `POST /_emulator/docs/{id}/edit`, which emits drive.file.edit_v1 to the bot when the doc is subscribed.
import { api } from "./api.js";
import { docTree, editOps, INSERTABLE, isTextKind } from "./docmodel.js";
import { t } from "./i18n.js";
import { clear, el, errorToast, toast } from "./ui.js";

const TAGS = { heading1: "h2", heading2: "h3", heading3: "h4", text: "p", code: "pre", quote: "blockquote" };

function tagOf(kind) {
  return TAGS[kind] || (kind.startsWith("heading") ? "h5" : "div");
}

/** The text a user typed into an editable block (contenteditable adds a trailing newline at times). */
function editableText(node) {
  return (node.innerText ?? node.textContent).replace(/\n$/, "");
}

export class DocsPane {
  constructor(root, store, app) {
    this.root = root;
    this.store = store;
    this.app = app;
    this.docId = app.param("doc");
    this.tree = null;
    this.dirty = false;
  }

  handle(change) {
    if (change.kind === "snapshot") this.render();
    else if (change.kind === "doc") {
      this.renderList();
      if (change.id !== this.docId) return;
      if (!this.store.docs.has(change.id)) this.render();
      else if (this.dirty) this.notice.textContent = t("changed_elsewhere");
      else this.renderEditor();
    }
  }

  render() {
    clear(this.root);
    this.listEl = el("nav", { class: "doclist", "aria-label": t("docs") });
    this.editorEl = el("section", { class: "doc-editor scroll", "aria-label": t("docs") });
    this.editorEl.addEventListener("input", (e) => {
      if (e.target.isContentEditable) this.dirty = true;
    });
    this.editorEl.addEventListener("focusin", (e) => {
      if (this.body?.contains(e.target)) this.lastTop = this.topOf(e.target);
    });
    this.editorEl.addEventListener("keydown", (e) => this.shortcuts(e));
    this.root.append(this.listEl, this.editorEl);
    this.renderList();
    this.renderEditor();
  }

  renderList() {
    if (!this.listEl) return;
    clear(this.listEl);
    const docs = [...this.store.docs.values()];
    // A doc just created may reach the page after the create call returns: wait for it rather than jump away.
    const known = this.store.docs.has(this.docId) || this.docId === this.awaited;
    if (!this.docId || !known) this.docId = docs[0]?.document_id || null;
    const items = el("ul", { class: "chatitems" }, docs.map((d) => {
      const button = el("button", { type: "button", class: "chatitem", "aria-current": d.document_id === this.docId
        ? "true" : null, "data-document-id": d.document_id }, d.title || d.document_id,
      el("span", { class: `badge${d.subscribed ? " badge--ok" : ""}` }, `r${d.revision_id}`));
      button.addEventListener("click", () => this.open(d.document_id));
      return el("li", {}, button);
    }));
    const title = el("input", { class: "field", name: "new_doc_title", "aria-label": t("new_doc_title"),
      placeholder: t("new_doc_title"), autocomplete: "off" });
    const form = el("form", { class: "row" }, title, el("button", { type: "submit", class: "btn" }, t("new_doc")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const doc = await api.createDoc(title.value.trim() || t("new_doc_default"), [{ type: "text", text: "" }]);
        title.value = "";
        this.awaited = doc.document_id;
        this.open(doc.document_id);
      } catch (error) {
        errorToast(error);
      }
    });
    this.listEl.append(docs.length ? items : el("p", { class: "muted" }, t("no_docs")), form);
  }

  open(documentId) {
    this.docId = documentId;
    this.dirty = false;
    this.app.remember("doc", documentId);
    this.renderList();
    this.renderEditor();
  }

  renderEditor() {
    if (!this.editorEl) return;
    clear(this.editorEl);
    const view = this.docId ? this.store.docs.get(this.docId) : null;
    this.dirty = false;
    if (!view) {
      this.tree = null;
      return;
    }
    this.tree = docTree(view);
    this.status = el("p", { class: "doc-status muted", role: "status" });
    this.notice = el("p", { class: "doc-notice", role: "status" });
    this.titleEl = el("h1", { class: "doc-title", contenteditable: "plaintext-only", role: "textbox",
      "aria-label": t("doc_title_label"), spellcheck: "false" }, this.tree.title);
    this.body = el("div", { class: "doc-body" }, this.tree.items.map((item) => this.blockElement(item)));
    this.editorEl.append(this.toolbar(view), this.subscription(view), this.notice, this.titleEl, this.body, this.status);
  }

  toolbar(view) {
    const save = el("button", { type: "button", class: "btn btn--primary", title: t("save_hint"),
      "aria-keyshortcuts": "Control+S" }, t("save"));
    save.addEventListener("click", () => this.save());
    const kind = el("select", { class: "field", name: "block_kind", "aria-label": t("block_kind") },
      INSERTABLE.map((k) => el("option", { value: k }, t(`kind_${k}`))));
    const add = el("button", { type: "button", class: "btn" }, t("add_block"));
    add.addEventListener("mousedown", (e) => e.preventDefault()); // keep the caret's block as the anchor
    add.addEventListener("click", () => this.insertAfter(this.focusedTop(), kind.value));
    const remove = el("button", { type: "button", class: "btn" }, t("delete_block"));
    remove.addEventListener("mousedown", (e) => e.preventDefault());
    remove.addEventListener("click", () => this.removeBlock(this.focusedTop()));
    return el("div", { class: "doc-toolbar row wrap" }, save, kind, add, remove,
      el("span", { class: "muted" }, t("doc_revision", { n: view.revision_id })));
  }

  subscription(view) {
    if (view.trashed) return el("p", { class: "doc-sub" }, t("trashed"));
    if (view.subscribed) return el("p", { class: "doc-sub doc-sub--ok" }, t("subscribed"));
    const sync = el("button", { type: "button", class: "btn" }, t("sync_via_admin"));
    sync.addEventListener("click", () => this.app.openAdminChat(`/sync ${view.document_id}`));
    return el("div", { class: "doc-sub row wrap" },
      el("span", {}, t("not_subscribed", { id: view.document_id })), sync);
  }

  shortcuts(e) {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
      e.preventDefault();
      this.save();
    }
  }

  editable(kind, text, blockId) {
    const node = el(tagOf(kind), { class: `doc-block doc-${kind}`, contenteditable: "plaintext-only", role: "textbox",
      "aria-label": `${t("block_label")} · ${t(`kind_${kind}`) === `kind_${kind}` ? kind : t(`kind_${kind}`)}`,
      "data-kind": kind, "data-block-id": blockId || null, "data-new": blockId ? null : "1", "data-editable": "1",
      spellcheck: "false" }, text);
    node.addEventListener("keydown", (e) => this.blockKeys(e, node));
    return node;
  }

  /** A block of the tree as editable DOM (tables and callouts contain editable text blocks). */
  blockElement(item) {
    if (isTextKind(item.kind)) {
      const node = this.editable(item.kind, item.text, item.id);
      if (item.children.length) {
        return el("div", { class: "doc-group", "data-kind": item.kind, "data-block-id": item.id, "data-top": "1" },
          node, item.children.map((c) => this.blockElement(c)));
      }
      node.dataset.top = "1";
      return node;
    }
    let node;
    if (item.kind === "table") {
      const cols = Math.max(1, item.table.cols);
      const rows = [];
      for (let r = 0; r < item.children.length / cols; r += 1) {
        rows.push(el("tr", {}, item.children.slice(r * cols, r * cols + cols).map((cell) =>
          el(r === 0 && item.table.header ? "th" : "td", {}, cell.children.map((c) => this.blockElement(c))))));
      }
      node = el("table", { class: "doc-table" }, el("tbody", {}, rows));
    } else if (item.kind === "divider") node = el("hr", { class: "doc-divider" });
    else if (item.kind === "image") node = el("div", { class: "doc-image", role: "img", "aria-label": "image" }, "🖼");
    else node = el("div", { class: `doc-${item.kind}` }, item.children.map((c) => this.blockElement(c)));
    return el("div", { class: "doc-group", "data-kind": item.kind, "data-block-id": item.id, "data-top": "1" }, node);
  }

  topOf(node) {
    return node?.closest?.("[data-top]") || null;
  }

  /** The top-level block the caret is in, or was in last (keyboard users tab from it to the toolbar). */
  focusedTop() {
    const active = document.activeElement;
    if (this.body?.contains(active)) return this.topOf(active);
    return this.lastTop && this.body?.contains(this.lastTop) ? this.lastTop : null;
  }

  insertAfter(anchor, kind = "text") {
    const node = this.editable(kind, "", null);
    node.dataset.top = "1";
    if (anchor) anchor.after(node);
    else this.body.appendChild(node);
    this.dirty = true;
    node.focus();
    return node;
  }

  removeBlock(top) {
    if (!top) return;
    const previous = top.previousElementSibling;
    top.remove();
    this.dirty = true;
    (previous?.matches("[data-editable]") ? previous : previous?.querySelector("[data-editable]"))?.focus();
  }

  blockKeys(e, node) {
    const top = node.dataset.top ? node : null;
    if (e.key === "Enter" && !e.shiftKey && top && node.dataset.kind !== "code") {
      e.preventDefault();
      const next = ["bullet", "ordered"].includes(node.dataset.kind) ? node.dataset.kind : "text";
      this.insertAfter(node, next);
    } else if (e.key === "Backspace" && top && node.dataset.new && editableText(node) === "") {
      e.preventDefault();
      this.removeBlock(node);
    }
  }

  /** What the editor shows now, in the shape editOps compares with the tree it was built from. */
  edited() {
    const top = [...this.body.querySelectorAll(":scope > [data-top]")].map((node) => ({
      id: node.dataset.new ? null : node.dataset.blockId,
      kind: node.dataset.kind,
      text: node.dataset.editable ? editableText(node) : "",
    }));
    const texts = {};
    for (const node of this.body.querySelectorAll("[data-editable][data-block-id]")) {
      texts[node.dataset.blockId] = editableText(node);
    }
    return { title: editableText(this.titleEl), top, texts };
  }

  async save() {
    if (!this.tree) return;
    const ops = editOps(this.tree, this.edited());
    if (!ops.length) {
      this.status.textContent = t("nothing_to_save");
      return;
    }
    try {
      const result = await api.editDoc(this.tree.id, ops);
      this.dirty = false;
      const words = t(result.event_ids?.length ? "saved_notified" : "saved", { n: result.revision_id });
      toast("success", words);
      if (this.store.docs.get(this.tree.id)?.revision_id === result.revision_id) this.renderEditor();
      if (this.status) this.status.textContent = words;
    } catch (error) {
      errorToast(error);
    }
  }
}
