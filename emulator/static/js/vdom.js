// Virtual nodes: the renderers build plain objects (testable in Node without a DOM); toDom makes elements.
// Text always becomes text nodes, never HTML, so nothing a bot or a user sends can inject markup.

export function h(tag, attrs, ...children) {
  return { tag, attrs: attrs || {}, children: flatten(children) };
}

function flatten(children) {
  const out = [];
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) out.push(...flatten(child));
    else out.push(child);
  }
  return out;
}

/** All text of a node, in order (what a reader sees, without the layout). */
export function textOf(node) {
  if (node === null || node === undefined) return "";
  if (typeof node === "string" || typeof node === "number") return String(node);
  if (Array.isArray(node)) return node.map(textOf).join("");
  return node.children.map(textOf).join("");
}

/** Every node below (and including) `node` for which `pred` holds. */
export function findAll(node, pred, out = []) {
  if (node && typeof node === "object" && !Array.isArray(node)) {
    if (pred(node)) out.push(node);
    for (const child of node.children) findAll(child, pred, out);
  } else if (Array.isArray(node)) {
    for (const child of node) findAll(child, pred, out);
  }
  return out;
}

const BOOLEAN_ATTRS = new Set(["disabled", "checked", "open", "multiple", "selected", "hidden", "required"]);

/**
 * A DOM node for a virtual node. `bind(element, vnode)` is called for every element whose vnode carries
 * an `action` (card buttons, selects...): the caller decides what a click does.
 */
export function toDom(node, bind, doc = globalThis.document) {
  if (typeof node === "string" || typeof node === "number") return doc.createTextNode(String(node));
  if (node.nodeType) return node; // already an element (the panes mix built elements into new ones)
  const el = doc.createElement(node.tag);
  for (const [key, value] of Object.entries(node.attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (BOOLEAN_ATTRS.has(key)) el[key] = Boolean(value);
    else if (key === "value") el.value = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of node.children) el.appendChild(toDom(child, bind, doc));
  if (node.action && bind) bind(el, node);
  return el;
}
