// Feishu docx blocks (as the blocks API lists them) → a tree the docs pane edits, and the edit ops that
// turn an edited tree back into a `POST /_emulator/docs/{id}/edit` body.

const KINDS = { 1: "page", 2: "text", 12: "bullet", 13: "ordered", 14: "code", 15: "quote", 17: "todo",
  19: "callout", 22: "divider", 27: "image", 31: "table", 32: "table_cell", 34: "quote_container" };
for (let i = 1; i <= 9; i += 1) KINDS[2 + i] = `heading${i}`;

export const INSERTABLE = ["text", "heading1", "heading2", "heading3", "bullet", "ordered", "quote", "code"];

export function blockKind(block) {
  return KINDS[block.block_type] || "unsupported";
}

export function isTextKind(kind) {
  return ["text", "bullet", "ordered", "code", "quote", "todo"].includes(kind) || kind.startsWith("heading");
}

export function blockText(block) {
  const payload = block[blockKind(block)];
  if (!payload || !Array.isArray(payload.elements)) return "";
  return payload.elements.map((el) => el.text_run?.content ?? el.mention_user?.user_id ?? "").join("");
}

/** {id, title, revision, items: [node]}; node: {id, kind, text, children: [node], table?: {rows, cols}}. */
export function docTree(view) {
  const byId = Object.fromEntries((view.blocks || []).map((b) => [b.block_id, b]));
  const node = (id) => {
    const block = byId[id];
    if (!block) return null;
    const kind = blockKind(block);
    const out = { id, kind, text: isTextKind(kind) ? blockText(block) : "",
      children: (block.children || []).map(node).filter(Boolean) };
    if (kind === "table") {
      const prop = block.table?.property || {};
      out.table = { rows: prop.row_size || 0, cols: prop.column_size || 0, header: Boolean(prop.header_row) };
    }
    if (kind === "todo") out.done = Boolean(block.todo?.style?.done);
    return out;
  };
  const root = byId[view.document_id];
  return { id: view.document_id, title: view.title, revision: view.revision_id,
    items: root ? (root.children || []).map(node).filter(Boolean) : [] };
}

/** Every text-bearing node of the tree, nested ones (table cells, callouts) included. */
export function textNodes(items, out = []) {
  for (const item of items) {
    if (isTextKind(item.kind)) out.push(item);
    textNodes(item.children, out);
  }
  return out;
}

/**
 * The ops that turn `tree` into what the editor shows now.
 * edited: {title, top: [{id|null, kind, text}] (top-level blocks in order, new ones with id null),
 *          texts: {block_id: text} (the current text of existing text blocks, nested ones included)}.
 */
export function editOps(tree, edited) {
  const ops = [];
  if (edited.title !== undefined && edited.title !== tree.title) ops.push({ op: "set_title", title: edited.title });
  const kept = new Set(edited.top.filter((x) => x.id).map((x) => x.id));
  const removed = tree.items.filter((item) => !kept.has(item.id)).map((item) => item.id);
  const gone = new Set();
  const mark = (item) => {
    gone.add(item.id);
    item.children.forEach(mark);
  };
  tree.items.filter((item) => !kept.has(item.id)).forEach(mark);
  for (const node of textNodes(tree.items)) {
    const text = edited.texts[node.id];
    if (text !== undefined && text !== node.text && !gone.has(node.id)) {
      ops.push({ op: "update_text", block_id: node.id, text });
    }
  }
  if (removed.length) ops.push({ op: "delete", block_ids: removed });
  let anchor = null;
  let run = [];
  const flush = () => {
    if (!run.length) return;
    ops.push(anchor ? { op: "insert", after: anchor, blocks: run }
      : { op: "insert", parent_id: tree.id, index: 0, blocks: run });
    run = [];
  };
  for (const item of edited.top) {
    if (item.id) {
      flush();
      anchor = item.id;
    } else {
      run.push({ type: item.kind, text: item.text });
    }
  }
  flush();
  return ops;
}
