// Markdown and message bodies as the simulator page shows them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { inline, markdown } from "../../../emulator/static/js/markdown.js";
import { messageBody, textWithMentions } from "../../../emulator/static/js/messages.js";
import { findAll, textOf } from "../../../emulator/static/js/vdom.js";

const ctx = { lang: "zh-CN", userName: (id) => ({ ou_a: "Ann" })[id] };
const tags = (nodes) => nodes.map((n) => (typeof n === "string" ? "#text" : n.tag));

test("inline: bold, italic, strike, code, links; escapes and entities stay literal", () => {
  const nodes = inline("**粗** *斜* ~~删~~ `x<y` [链接](https://a.cn) \\*not\\* &lt;b&gt; a&amp;b", ctx);
  assert.deepEqual(tags(nodes).filter((t) => t !== "#text"), ["strong", "em", "del", "code", "a"]);
  assert.equal(textOf(nodes), "粗 斜 删 x<y 链接 *not* <b> a&b");
});

test("inline: links other than http(s)/mailto/lark are shown as text only", () => {
  const nodes = inline("[x](javascript:alert(1)) [y](data:text/html,hi)", ctx);
  assert.equal(findAll(nodes, (n) => n.tag === "a").length, 0);
  assert.equal(textOf(nodes), "x y");
});

test("inline: mentions by id take the user's name; font colours become classes, unknown ones default", () => {
  const nodes = inline("<at id=ou_a></at> <at id=all></at> <font color='red'>红</font> <font color=\"x;y\">?</font>", ctx);
  assert.equal(textOf(nodes), "@Ann @所有人 红 <font color=\"x;y\">?</font>");
  const fonts = findAll(nodes, (n) => n.attrs.class?.startsWith("md-font"));
  assert.deepEqual(fonts.map((n) => n.attrs.class), ["md-font color-red"]);
});

test("markdown: paragraphs keep line breaks; headings, lists, rules and code fences", () => {
  const nodes = markdown("第一行\n第二行\n\n# 标题\n- a\n- b\n1. c\n---\n```\ncode *x*\n```", ctx);
  assert.deepEqual(tags(nodes), ["p", "h3", "ul", "ol", "hr", "pre"]);
  assert.equal(findAll(nodes[0], (n) => n.tag === "br").length, 1);
  assert.equal(textOf(nodes[5]), "code *x*");
});

test("text messages: received @_user_N keys and sent <at> tags become mentions", () => {
  const mentions = [{ key: "@_user_1", id: { open_id: "ou_bot" }, name: "larkdesk" }];
  assert.equal(textOf(textWithMentions("@_user_1 你好 @_user_9", mentions, ctx)), "@larkdesk 你好 @_user_9");
  assert.equal(textOf(textWithMentions('hi <at user_id="ou_a">Ann</at>', [], ctx)), "hi @Ann");
  const body = messageBody({ msg_type: "text", content: { text: "<script>x</script>" } }, ctx);
  assert.equal(findAll(body, (n) => n.tag === "script").length, 0);
  assert.equal(textOf(body), "<script>x</script>");
});

test("post messages: sent (locale-wrapped) and received shapes", () => {
  const sent = { zh_cn: { title: "标题", content: [[{ tag: "text", text: "你好 " }, { tag: "at", user_id: "ou_a" }],
    [{ tag: "md", text: "**粗**" }, { tag: "img", image_key: "img_1" }]] } };
  const node = messageBody({ msg_type: "post", content: sent }, ctx);
  assert.equal(textOf(node), "标题你好 @Ann粗🖼");
  const received = { title: "", content: [[{ tag: "a", href: "https://a.cn", text: "a" }]] };
  assert.equal(findAll(messageBody({ msg_type: "post", content: received }, ctx), (n) => n.tag === "a").length, 1);
  assert.equal(textOf(messageBody({ msg_type: "image", content: {} }, ctx)), "[image]");
});
