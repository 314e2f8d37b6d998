// Feishu interactive cards (JSON 1.0 and 2.0) → virtual nodes.
//
// Generic on purpose: every button, select or container that carries a callback becomes a node with an
// `action` ({kind, tag, name, value, form, ...}); the page decides what a click does (it sends a signed
// card.action.trigger through the emulator). Nodes with a callback value `{action: "claim", ...}` also get
// `data-action="claim"`, so tests find buttons by what they do, not by where they sit.
import { colorClass, inline, markdown, mention } from "./markdown.js";
import { h } from "./vdom.js";

const LABELS = {
  "zh-CN": { unsupported: "暂不支持的组件", image: "图片", chart: "图表", template: "模板卡片", all: "所有人",
    choose: "请选择" },
  en: { unsupported: "unsupported element", image: "image", chart: "chart", template: "template card",
    all: "everyone", choose: "Choose" },
};
const CALLBACK_TAGS = new Set(["button", "select_static", "multi_select_static", "select_person",
  "multi_select_person", "overflow", "date_picker", "picker_time", "picker_datetime", "checker",
  "interactive_container", "select_img"]);

export function labels(ctx) {
  return LABELS[ctx?.lang === "en" ? "en" : "zh-CN"];
}

function langKey(ctx) {
  return ctx?.lang === "en" ? "en_us" : "zh_cn";
}

export function isV2(card) {
  return String(card?.schema ?? "") === "2.0";
}

/** The string a text object shows in the page's language (i18n / i18n_content fall back to content). */
export function textContent(t, ctx) {
  if (t === null || t === undefined) return "";
  if (typeof t !== "object") return String(t);
  const key = langKey(ctx);
  const i18n = t.i18n || t.i18n_content;
  if (i18n && typeof i18n === "object") return String(i18n[key] ?? i18n.zh_cn ?? i18n.en_us ?? t.content ?? "");
  return String(t.content ?? "");
}

/** A text object as nodes: lark_md / markdown renders inline markdown, plain_text stays as typed. */
export function textNodes(t, ctx) {
  const content = textContent(t, ctx);
  if (t && typeof t === "object" && (t.tag === "lark_md" || t.tag === "markdown")) {
    const out = [];
    content.split("\n").forEach((line, i) => {
      if (i) out.push(h("br", {}));
      out.push(...inline(line, ctx));
    });
    return out;
  }
  return [content];
}

function topElements(card, ctx) {
  if (isV2(card)) return (card.body && card.body.elements) || [];
  const i18n = card.i18n_elements;
  if (i18n && typeof i18n === "object") {
    return i18n[langKey(ctx)] || i18n.zh_cn || i18n.en_us || Object.values(i18n)[0] || [];
  }
  return card.elements || [];
}

/** Callback value, URL and form role of an interactive element (1.0 `value`/`url`, 2.0 `behaviors`). */
export function behaviorsOf(el) {
  const out = { value: undefined, url: undefined, formAction: el.form_action_type || el.action_type || null };
  if (el.value !== undefined && typeof el.value === "object") out.value = el.value;
  for (const b of Array.isArray(el.behaviors) ? el.behaviors : []) {
    if (b && b.type === "callback") out.value = b.value ?? {};
    if (b && b.type === "open_url") out.url = b.default_url || b.pc_url || b.url;
  }
  out.url = out.url || el.url || el.multi_url?.url || el.multi_url?.pc_url;
  return out;
}

function noSubmit(event) {
  event.preventDefault();
}

function dataAction(value) {
  return value && typeof value === "object" && typeof value.action === "string" ? value.action : null;
}

function withAction(node, action) {
  node.action = action;
  const verb = dataAction(action.value);
  if (verb) node.attrs["data-action"] = verb;
  if (action.name) node.attrs["data-element"] = action.name;
  return node;
}

function button(el, ctx, form) {
  const { value, url, formAction } = behaviorsOf(el);
  const type = String(el.type || "default").replace(/[^a-z_]/g, "");
  const node = h("button", { type: "button", class: `card-btn card-btn--${type}`, disabled: Boolean(el.disabled),
    title: el.hover_tips ? textContent(el.hover_tips, ctx) : null }, textNodes(el.text, ctx));
  let kind = "callback";
  if (formAction === "submit") kind = "submit";
  else if (formAction === "reset") kind = "reset";
  else if (value === undefined && url) kind = "url";
  else if (value === undefined) return node; // a button that does nothing in Feishu either
  return withAction(node, { kind, tag: "button", name: el.name || el.element_id || null, value: value ?? {},
    url: url || null, form: form || null, confirm: el.confirm ? textContent(el.confirm.text, ctx) : null });
}

function optionList(el, ctx, multiple) {
  const initial = new Set([el.initial_option, ...(el.initial_options || [])].filter((x) => x !== undefined));
  const options = (el.options || []).map((o) => {
    const label = o.text ? textContent(o.text, ctx) : ctx?.userName?.(o.value) || String(o.value);
    return h("option", { value: String(o.value ?? ""), selected: initial.has(o.value) }, label);
  });
  if (!multiple) {
    const placeholder = el.placeholder ? textContent(el.placeholder, ctx) : labels(ctx).choose;
    options.unshift(h("option", { value: "", selected: initial.size === 0 }, placeholder));
  }
  return options;
}

function select(el, ctx, form) {
  const multiple = el.tag.startsWith("multi_");
  const name = el.name || el.element_id || null;
  const label = el.placeholder ? textContent(el.placeholder, ctx) : labels(ctx).choose;
  const node = h("select", { class: "card-select", name, multiple, disabled: Boolean(el.disabled),
    "aria-label": label }, optionList(el, ctx, multiple));
  if (form) return node; // inside a form the choice goes out with the submit
  const { value } = behaviorsOf(el);
  return withAction(node, { kind: "select", tag: el.tag, name, value: value ?? {}, form: null, multiple });
}

function overflow(el, ctx) {
  const { value } = behaviorsOf(el);
  const options = (el.options || []).map((o) => h("option", { value: String(o.value ?? "") },
    textContent(o.text, ctx)));
  const node = h("select", { class: "card-overflow", "aria-label": "⋯" }, h("option", { value: "" }, "⋯"), options);
  return withAction(node, { kind: "select", tag: "overflow", name: el.name || el.element_id || null,
    value: value ?? {}, form: null, urls: Object.fromEntries((el.options || []).filter((o) => o.url || o.multi_url)
      .map((o) => [String(o.value), o.url || o.multi_url?.url])) });
}

function input(el, ctx, form) {
  const name = el.name || el.element_id || null;
  const placeholder = el.placeholder ? textContent(el.placeholder, ctx) : "";
  const label = el.label ? textContent(el.label, ctx) : placeholder || name || "";
  const attrs = { class: "card-input", name, placeholder, "aria-label": label, required: Boolean(el.required),
    maxlength: el.max_length || null, disabled: Boolean(el.disabled) };
  const field = el.input_type === "multiline_text"
    ? h("textarea", { ...attrs, rows: el.rows || 3 }, String(el.default_value ?? ""))
    : h("input", { ...attrs, type: el.input_type === "password" ? "password" : "text",
      value: el.default_value ?? "" });
  return el.label ? h("label", { class: "card-field" }, h("span", {}, label), field) : field;
}

function picker(el, ctx, form) {
  const type = { date_picker: "date", picker_time: "time", picker_datetime: "datetime-local" }[el.tag];
  const name = el.name || el.element_id || null;
  const initial = el.initial_date || el.initial_time || el.initial_datetime || "";
  const node = h("input", { type, class: "card-input", name, value: initial,
    "aria-label": el.placeholder ? textContent(el.placeholder, ctx) : el.tag });
  if (form) return node;
  return withAction(node, { kind: "select", tag: el.tag, name, value: behaviorsOf(el).value ?? {}, form: null });
}

function checker(el, ctx, form) {
  const name = el.name || el.element_id || null;
  const box = h("input", { type: "checkbox", name, checked: Boolean(el.checked) });
  const node = h("label", { class: "card-checker" }, box, h("span", {}, textNodes(el.text, ctx)));
  const { value } = behaviorsOf(el);
  if (!form && value !== undefined) withAction(box, { kind: "callback", tag: "checker", name, value, form: null });
  return node;
}

function table(el, ctx) {
  const columns = el.columns || [];
  const cell = (v) => {
    if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? x.text ?? x.id ?? "" : x)).join(", ");
    return v === null || v === undefined ? "" : typeof v === "object" ? textContent(v, ctx) : String(v);
  };
  return h("table", { class: "card-table" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.display_name || c.name)))),
    h("tbody", {}, (el.rows || []).map((row) => h("tr", {}, columns.map((c) => h("td", {}, cell(row[c.name])))))));
}

function children(list, ctx, form) {
  return (Array.isArray(list) ? list : []).map((el) => element(el, ctx, form)).filter(Boolean);
}

/** One element (and what it contains). `form` is the name of the enclosing form, if any. */
export function element(el, ctx, form = null) {
  if (!el || typeof el !== "object") return null;
  const id = el.element_id || null;
  switch (el.tag) {
    case "markdown":
    case "lark_md":
      return h("div", { class: `card-md align-${el.text_align || "left"}`, "data-element-id": id },
        markdown(textContent(el, ctx), ctx));
    case "plain_text":
      return h("div", { class: "card-text", "data-element-id": id }, textContent(el, ctx));
    case "div":
      return h("div", { class: "card-div", "data-element-id": id },
        el.text ? h("div", { class: "card-text" }, textNodes(el.text, ctx)) : null,
        el.fields ? h("div", { class: "card-fields" }, el.fields.map((f) => h("div",
          { class: f.is_short ? "card-field-short" : "card-field-long" }, textNodes(f.text, ctx)))) : null,
        el.extra ? element(el.extra, ctx, form) : null);
    case "hr":
      return h("hr", { class: "card-hr" });
    case "note":
      return h("div", { class: "card-note" }, (el.elements || []).map((x) => (x.tag === "img"
        ? element(x, ctx, form) : h("span", {}, textNodes(x, ctx)))));
    case "img":
    case "image": {
      const alt = el.alt ? textContent(el.alt, ctx) : labels(ctx).image;
      return h("div", { class: "card-img", role: "img", "aria-label": alt }, `🖼 ${alt}`);
    }
    case "column_set":
      return h("div", { class: "card-cols", "data-element-id": id }, (el.columns || []).map((col) =>
        h("div", { class: "card-col" }, children(col.elements, ctx, form))));
    case "column":
      return h("div", { class: "card-col" }, children(el.elements, ctx, form));
    case "action":
      return h("div", { class: "card-actions" }, children(el.actions, ctx, form));
    case "button":
      return button(el, ctx, form);
    case "form": {
      const name = el.name || id || "form";
      // Enter in a field never submits (as in Feishu): only the form's submit button sends it
      return h("form", { class: "card-form", "data-form": name, "data-element-id": id, onsubmit: noSubmit },
        children(el.elements, ctx, name));
    }
    case "input":
      return input(el, ctx, form);
    case "select_static":
    case "multi_select_static":
    case "select_person":
    case "multi_select_person":
      return select(el, ctx, form);
    case "overflow":
      return overflow(el, ctx);
    case "date_picker":
    case "picker_time":
    case "picker_datetime":
      return picker(el, ctx, form);
    case "checker":
      return checker(el, ctx, form);
    case "collapsible_panel": {
      const title = el.header?.title;
      return h("details", { class: "card-panel", open: Boolean(el.expanded), "data-element-id": id },
        h("summary", {}, title?.tag === "markdown" ? inline(textContent(title, ctx), ctx) : textContent(title, ctx)),
        h("div", { class: "card-panel-body" }, children(el.elements, ctx, form)));
    }
    case "interactive_container": {
      const node = h("div", { class: "card-container", role: "button", tabindex: 0, "data-element-id": id },
        children(el.elements, ctx, form));
      const { value, url } = behaviorsOf(el);
      if (value === undefined && !url) return node;
      return withAction(node, { kind: value === undefined ? "url" : "callback", tag: "interactive_container",
        name: el.name || id, value: value ?? {}, url: url || null, form: null });
    }
    case "person":
      return mention(el.user_id, "", ctx);
    case "person_list":
      return h("div", { class: "card-persons" }, (el.persons || []).map((p) => mention(p.id, "", ctx)));
    case "table":
      return table(el, ctx);
    case "chart":
      return h("div", { class: "card-img", role: "img", "aria-label": labels(ctx).chart }, `📊 ${labels(ctx).chart}`);
    default:
      if (CALLBACK_TAGS.has(el.tag)) return button({ ...el, text: { content: el.tag } }, ctx, form);
      return h("div", { class: "card-unsupported" }, `[${labels(ctx).unsupported}: ${el.tag ?? "?"}]`);
  }
}

function header(card, ctx) {
  const head = (card.i18n_header && card.i18n_header[langKey(ctx)]) || card.header;
  if (!head || !head.title) return null;
  const template = String(head.template || "default").replace(/[^a-z]/g, "");
  return h("header", { class: `card-head card-head--${template}` },
    h("div", { class: "card-title" }, textNodes(head.title, ctx)),
    head.subtitle ? h("div", { class: "card-subtitle" }, textNodes(head.subtitle, ctx)) : null,
    (head.text_tag_list || []).map((tag) => h("span", { class: `md-tag ${colorClass(tag.color)}` },
      textContent(tag.text, ctx))));
}

/** A whole card. Template cards (`{"type":"template"}`) show their id: their JSON lives in Feishu's builder. */
export function renderCard(card, ctx = {}) {
  if (!card || typeof card !== "object") {
    return h("div", { class: "card card--invalid" }, String(card));
  }
  if (card.type === "template") {
    return h("div", { class: "card card--template" },
      `[${labels(ctx).template}: ${card.data?.template_id ?? "?"}]`);
  }
  const streaming = Boolean(card.config?.streaming_mode);
  return h("article", { class: `card${streaming ? " card--streaming" : ""}`, "data-schema": isV2(card) ? "2.0" : "1.0",
    "aria-busy": streaming ? "true" : null },
  header(card, ctx),
  h("div", { class: "card-body" }, children(topElements(card, ctx), ctx, null)));
}

/** Every action a card offers, in order (for tests and for keyboard shortcuts). */
export function actionsOf(node, out = []) {
  if (node && typeof node === "object") {
    if (node.action) out.push({ ...node.action, label: labelOf(node) });
    for (const child of node.children || []) actionsOf(child, out);
  }
  return out;
}

function labelOf(node) {
  if (typeof node === "string") return node;
  return (node.children || []).map(labelOf).join("");
}
