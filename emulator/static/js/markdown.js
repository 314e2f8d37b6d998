// The markdown Feishu cards and `md` post nodes use: **bold**, *italic*, ~~strike~~, `code`, [links](url),
// <at id=ou_x></at>, <font color='grey'>…</font>, <text_tag color='blue'>…</text_tag>, headings, lists,
// ---, fenced code, backslash escapes and the HTML entities larkdesk writes (&lt; &gt; &amp;).
import { h } from "./vdom.js";

export const COLORS = new Set([
  "default", "red", "orange", "yellow", "green", "turquoise", "blue", "wathet", "indigo", "purple",
  "violet", "carmine", "lime", "grey", "gray", "neutral",
]);
const ENTITIES = { lt: "<", gt: ">", amp: "&", quot: '"', "#39": "'", apos: "'", nbsp: "\u00a0" };
const SAFE_URL = /^(https?:|mailto:|lark:|feishu:)/i;

export function colorClass(color) {
  const name = String(color || "").toLowerCase().replace(/-.*$/, "");
  return COLORS.has(name) ? `color-${name === "gray" ? "grey" : name}` : "color-default";
}

// Inline rules, tried at every position; the earliest match wins, ties go to the first rule listed.
const INLINE = [
  { re: /\\([\\`*_~[\]()#+\-.!<>|])/y, node: (m) => m[1] },
  { re: /&(lt|gt|amp|quot|#39|apos|nbsp);/y, node: (m) => ENTITIES[m[1]] },
  { re: /`([^`\n]+)`/y, node: (m) => h("code", { class: "md-code" }, m[1]) },
  { re: /\*\*([\s\S]+?)\*\*/y, node: (m, ctx) => h("strong", {}, inline(m[1], ctx)) },
  { re: /~~([\s\S]+?)~~/y, node: (m, ctx) => h("del", {}, inline(m[1], ctx)) },
  { re: /\*([^*\n]+?)\*/y, node: (m, ctx) => h("em", {}, inline(m[1], ctx)) },
  { re: /\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)/y, node: (m, ctx) => link(m[1], m[2], ctx) },
  {
    re: /<at\s+(?:id|user_id|open_id|email)\s*=\s*["']?([^"'>\s]+)["']?\s*>([\s\S]*?)<\/at>/y,
    node: (m, ctx) => mention(m[1], m[2], ctx),
  },
  {
    re: /<font\s+color\s*=\s*["']?([\w#-]+)["']?\s*>([\s\S]*?)<\/font>/y,
    node: (m, ctx) => h("span", { class: `md-font ${colorClass(m[1])}` }, inline(m[2], ctx)),
  },
  {
    re: /<text_tag\s+color\s*=\s*["']?([\w-]+)["']?\s*>([\s\S]*?)<\/text_tag>/y,
    node: (m, ctx) => h("span", { class: `md-tag ${colorClass(m[1])}` }, inline(m[2], ctx)),
  },
];
const STARTERS = /[\\&`*~[<]/g;

function link(label, url, ctx) {
  if (!SAFE_URL.test(url)) return inline(label, ctx);
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, inline(label, ctx));
}

export function mention(id, label, ctx) {
  const name = id === "all" ? (ctx?.allLabel || "所有人") : (label && label.trim()) || ctx?.userName?.(id) || id;
  return h("span", { class: "mention", "data-open-id": id }, `@${name}`);
}

/** Inline markdown of one line or paragraph → a list of vnodes and strings. */
export function inline(text, ctx) {
  const out = [];
  let pos = 0;
  let plain = "";
  const flush = () => {
    if (plain) out.push(plain);
    plain = "";
  };
  while (pos < text.length) {
    STARTERS.lastIndex = pos;
    const next = STARTERS.exec(text);
    if (!next) break;
    plain += text.slice(pos, next.index);
    pos = next.index;
    let matched = null;
    for (const rule of INLINE) {
      rule.re.lastIndex = pos;
      const m = rule.re.exec(text);
      if (m) {
        matched = { m, rule };
        break;
      }
    }
    if (!matched) {
      plain += text[pos];
      pos += 1;
      continue;
    }
    const node = matched.rule.node(matched.m, ctx);
    if (typeof node === "string") plain += node;
    else {
      flush();
      out.push(...(Array.isArray(node) ? node : [node]));
    }
    pos += matched.m[0].length;
  }
  plain += text.slice(pos);
  flush();
  return out;
}

/** Block markdown → a list of vnodes (paragraphs keep their line breaks, as Feishu shows them). */
export function markdown(text, ctx) {
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let para = [];
  let list = null;
  const endPara = () => {
    if (para.length) {
      const children = [];
      para.forEach((line, i) => {
        if (i) children.push(h("br", {}));
        children.push(...inline(line, ctx));
      });
      blocks.push(h("p", { class: "md-p" }, children));
    }
    para = [];
  };
  const endList = () => {
    if (list) blocks.push(h(list.ordered ? "ol" : "ul", { class: "md-list" }, list.items));
    list = null;
  };
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    const fence = line.match(/^\s*```(\w*)\s*$/);
    if (fence) {
      endPara();
      endList();
      const code = [];
      for (i += 1; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i += 1) code.push(lines[i]);
      blocks.push(h("pre", { class: "md-pre" }, h("code", {}, code.join("\n"))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/);
    if (heading) {
      endPara();
      endList();
      blocks.push(h(`h${Math.min(heading[1].length + 2, 6)}`, { class: "md-h" }, inline(heading[2], ctx)));
    } else if (/^\s*(-{3,}|\*{3,})\s*$/.test(line)) {
      endPara();
      endList();
      blocks.push(h("hr", { class: "md-hr" }));
    } else if (item) {
      endPara();
      const ordered = Boolean(item[2]);
      if (list && list.ordered !== ordered) endList();
      list = list || { ordered, items: [] };
      list.items.push(h("li", {}, inline(item[3], ctx)));
    } else if (line.trim() === "") {
      endPara();
      endList();
    } else {
      endList();
      para.push(line);
    }
  }
  endPara();
  endList();
  return blocks;
}
