// The docs pane's model: docx blocks → an editable tree → the edit ops the control API applies.
import assert from "node:assert/strict";
import { test } from "node:test";

import { docTree, editOps, textNodes } from "../../../emulator/static/js/docmodel.js";

const run = (text) => ({ elements: [{ text_run: { content: text } }], style: {} });
const view = {
  document_id: "doxcn1", title: "手册", revision_id: 3,
  blocks: [
    { block_id: "doxcn1", block_type: 1, page: run("手册"), children: ["h", "p", "t", "d"] },
    { block_id: "h", parent_id: "doxcn1", block_type: 4, heading2: run("上门取件") },
    { block_id: "p", parent_id: "doxcn1", block_type: 2, text: run("48小时内上门") },
    { block_id: "t", parent_id: "doxcn1", block_type: 31, children: ["c1", "c2"],
      table: { property: { row_size: 1, column_size: 2 } } },
    { block_id: "c1", parent_id: "t", block_type: 32, table_cell: {}, children: ["c1t"] },
    { block_id: "c1t", parent_id: "c1", block_type: 2, text: run("冰箱") },
    { block_id: "c2", parent_id: "t", block_type: 32, table_cell: {}, children: ["c2t"] },
    { block_id: "c2t", parent_id: "c2", block_type: 2, text: run("免费") },
    { block_id: "d", parent_id: "doxcn1", block_type: 22, divider: {} },
  ],
};

test("the tree keeps document order, kinds, texts and table shape", () => {
  const tree = docTree(view);
  assert.equal(tree.title, "手册");
  assert.deepEqual(tree.items.map((i) => i.kind), ["heading2", "text", "table", "divider"]);
  assert.deepEqual(tree.items[2].table, { rows: 1, cols: 2, header: false });
  assert.deepEqual(textNodes(tree.items).map((n) => n.text), ["上门取件", "48小时内上门", "冰箱", "免费"]);
});

const unchanged = (tree) => ({ title: tree.title, top: tree.items.map((i) => ({ id: i.id, kind: i.kind })),
  texts: Object.fromEntries(textNodes(tree.items).map((n) => [n.id, n.text])) });

test("nothing edited: no ops", () => {
  const tree = docTree(view);
  assert.deepEqual(editOps(tree, unchanged(tree)), []);
});

test("edits of top-level and nested text, a title change, deletions and insertions", () => {
  const tree = docTree(view);
  const edited = unchanged(tree);
  edited.title = "售后手册";
  edited.texts.p = "24小时内上门";
  edited.texts.c2t = "免费上门";
  edited.top = [
    { id: null, kind: "heading1", text: "总则" },
    { id: "h", kind: "heading2" },
    { id: "p", kind: "text" },
    { id: null, kind: "bullet", text: "周末照常" },
    { id: null, kind: "bullet", text: "节假日顺延" },
    { id: "d", kind: "divider" }, // the table is gone
  ];
  edited.texts.c1t = "never sent: its table is deleted";
  assert.deepEqual(editOps(tree, edited), [
    { op: "set_title", title: "售后手册" },
    { op: "update_text", block_id: "p", text: "24小时内上门" },
    { op: "delete", block_ids: ["t"] },
    { op: "insert", parent_id: "doxcn1", index: 0, blocks: [{ type: "heading1", text: "总则" }] },
    { op: "insert", after: "p", blocks: [{ type: "bullet", text: "周末照常" }, { type: "bullet", text: "节假日顺延" }] },
  ]);
});
