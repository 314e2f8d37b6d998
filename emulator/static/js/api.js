// The control API the page acts through: the same routes a test script or curl uses.

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    // a non-JSON answer keeps the status as the message
  }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

const path = (value) => encodeURIComponent(value);

export const api = {
  sendMessage: (body) => call("POST", "/_emulator/users/messages", body),
  clickCard: (body) => call("POST", "/_emulator/cards/click", body),
  enterP2p: (openId, userName) => call("POST", "/_emulator/users/enter_p2p",
    userName ? { open_id: openId, user_name: userName } : { open_id: openId }),
  menu: (openId, eventKey) => call("POST", "/_emulator/users/menu", { open_id: openId, event_key: eventKey }),
  createGroup: (body) => call("POST", "/_emulator/chats", body),
  addMembers: (chatId, openIds, names) =>
    call("POST", `/_emulator/chats/${path(chatId)}/members`, { open_ids: openIds, names }),
  createDoc: (title, blocks) => call("POST", "/_emulator/docs", { title, blocks }),
  editDoc: (documentId, ops) => call("POST", `/_emulator/docs/${path(documentId)}/edit`, { ops }),
};
