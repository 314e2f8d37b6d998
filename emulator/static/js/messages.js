// The body of one chat message (text, post, interactive card, anything else as a placeholder) → vnodes.
import { renderCard } from "./cards.js";
import { markdown, mention } from "./markdown.js";
import { h } from "./vdom.js";

const MENTION_RE = /<at\s+user_id\s*=\s*["']?([^"'>\s]+)["']?\s*>([\s\S]*?)<\/at>|@_user_\d+|@_all/g;

/** Plain text with Feishu's mentions: `<at user_id="ou_x">Tom</at>` (sent) and `@_user_1` keys (received). */
export function textWithMentions(text, mentions, ctx) {
  const byKey = Object.fromEntries((mentions || []).map((m) => [m.key, m]));
  const out = [];
  let last = 0;
  for (const m of String(text ?? "").matchAll(MENTION_RE)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1]) out.push(mention(m[1], m[2], ctx));
    else if (m[0] === "@_all") out.push(mention("all", "", ctx));
    else {
      const known = byKey[m[0]];
      out.push(known ? mention(known.id?.open_id || known.id || "", known.name, ctx) : m[0]);
    }
    last = m.index + m[0].length;
  }
  if (last < String(text ?? "").length) out.push(text.slice(last));
  return out;
}

function postBody(content, ctx) {
  const wrapped = content.post || content;
  const key = ctx?.lang === "en" ? "en_us" : "zh_cn";
  const body = Array.isArray(wrapped.content) ? wrapped
    : wrapped[key] || wrapped.zh_cn || wrapped.en_us || Object.values(wrapped).find((v) => v && v.content) || {};
  const node = (n) => {
    switch (n?.tag) {
      case "text":
        return h("span", { class: (n.style || []).map((s) => `post-${s}`).join(" ") || null }, n.text ?? "");
      case "a":
        return /^(https?:|mailto:)/i.test(n.href || "")
          ? h("a", { href: n.href, target: "_blank", rel: "noopener noreferrer" }, n.text ?? n.href)
          : h("span", {}, n.text ?? "");
      case "at":
        return mention(n.user_id, n.user_name, ctx);
      case "img":
      case "media":
        return h("span", { class: "post-media" }, "🖼");
      case "emotion":
        return h("span", { class: "post-emotion" }, `[${n.emoji_type}]`);
      case "hr":
        return h("hr", {});
      case "code_block":
        return h("pre", { class: "md-pre" }, h("code", {}, n.text ?? ""));
      case "md":
        return h("div", { class: "post-md" }, markdown(n.text ?? "", ctx));
      default:
        return h("span", {}, n?.text ?? "");
    }
  };
  return h("div", { class: "post" },
    body.title ? h("div", { class: "post-title" }, body.title) : null,
    (body.content || []).map((para) => h("p", { class: "post-para" }, (Array.isArray(para) ? para : []).map(node))));
}

/** What a message shows. `ctx`: {lang, userName(open_id)}. */
export function messageBody(msg, ctx = {}) {
  const content = msg.content;
  switch (msg.msg_type) {
    case "text":
      return h("div", { class: "msg-text" }, textWithMentions(content?.text ?? "", msg.mentions, ctx));
    case "post":
      return content && typeof content === "object" ? postBody(content, ctx) : h("div", {}, String(content));
    case "interactive":
      return renderCard(content, ctx);
    default:
      return h("div", { class: "msg-other" }, `[${msg.msg_type}]`);
  }
}
