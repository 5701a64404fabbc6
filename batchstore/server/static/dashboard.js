// batchstore dashboard: tasks by state, kept live by the server's event stream, with stop/requeue/delete.
// No framework and no build step: one model (a Map of tasks) and DOM rows kept per task, updated in
// place so a progress bar glides from its old width to its new one. The server does every search, count
// and page (the store's query model, in SQL); the page only shows what it is sent.
"use strict";

// One label per state everywhere on the page ("Acquired"); the wire name stays SuperOffice's "Aquired".
const STATES = [
  { name: "New", label: "New" },
  { name: "Aquired", label: "Acquired" },
  { name: "Started", label: "Started" },
  { name: "Succeeded", label: "Succeeded" },
  { name: "SucceededManualCleanup", label: "Succeeded, manual cleanup" },
  { name: "Failed", label: "Failed" },
];
const EVENTS_URL = "/batchstore/v1/events";
const TASKS_URL = "/batchstore/v1/tasks";
const taskUrl = (id, tail = "") => `/batchstore/v1/tasks/${encodeURIComponent(id)}${tail}`;
const TOKEN_KEY = "batchstore.token";

const tasks = new Map();   // Id -> card (wire names, with Percent, Rate, Eta)
const rows = new Map();    // Id -> <li>
const groups = new Map();  // state name -> {section, list, count, more, tile, n, total, lowest}
let selectedId = null;
let searchText = "";
let stream = null;         // the AbortController of the open event stream

// --- the token ----------------------------------------------------------------------------------
// Asked for once, when the server first answers 401, and kept for this tab only. It goes in the
// Authorization header of every request for data; requests carry no cookie and no cached password
// (credentials: "omit"), so another site cannot make this browser act on the store.
function readToken() {
  const match = location.hash.match(/(?:^#|&)token=([^&]*)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}
function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}
function api(url, options = {}) {
  return fetch(url, { ...options, credentials: "omit", cache: "no-store",
    headers: { Accept: "application/json", ...authHeaders(), ...(options.headers || {}) } });
}
function askForToken() {
  setConn("down", "Token needed");
  const form = document.getElementById("auth");
  form.hidden = false;
  document.getElementById("token").focus();
}

// --- formatting -----------------------------------------------------------------------------------
const stateLabel = (name) => (STATES.find((s) => s.name === name) || { label: name }).label;
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;
const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const clockFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

const SPANS = [["year", 365.25 * 86400], ["month", 30.44 * 86400], ["week", 7 * 86400], ["day", 86400],
  ["hour", 3600], ["minute", 60]];
function span(seconds) {
  for (const [unit, size] of SPANS) {
    if (seconds >= size) {
      const n = Math.round(seconds / size);
      return `${n} ${unit}${n === 1 ? "" : "s"}`;
    }
  }
  return "a minute";
}
function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return seconds < 45 ? "just now" : `${span(seconds)} ago`;
}
function whenText(task) {
  if (task.State === "New") return task.Created ? `created ${ago(task.Created)}` : "";
  if (task.LastStarted) {
    const again = task.StartCount > 1 ? ` (start ${task.StartCount})` : "";
    return `started ${ago(task.LastStarted)}${again}`;
  }
  return task.Created ? `created ${ago(task.Created)}` : "";
}
// "12 %/min · done in about 4 minutes", from the rate and ETA the server read off the progress reports.
function etaText(task) {
  if (task.State !== "Started" || task.Rate === null || task.Rate === undefined) return "";
  const rate = task.Rate >= 10 ? Math.round(task.Rate) : Math.round(task.Rate * 10) / 10;
  const left = (Date.parse(task.Eta) - Date.now()) / 1000;
  let eta = "";
  if (!Number.isNaN(left)) eta = left > 30 ? ` · done in about ${span(left)}` : " · due now";
  return `${rate} %/min${eta}`;
}
function valueText(value, field) {
  if (value === null || value === undefined || value === "") return "—";
  if (field === "State") return stateLabel(value);
  if (typeof value === "string" && ISO_DATE.test(value)) {
    const parsed = Date.parse(value);
    if (!Number.isNaN(parsed)) return timeFmt.format(parsed);
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
const OPERATIONS = {
  create: "Created", acquire: "Acquired", start: "Started", report_progress: "Progress",
  succeed: "Succeeded", fail: "Failed", stop: "Stop", update: "Updated", patch: "Patched",
  recover: "Recovered", recover_stale: "Recovered", requeue: "Requeued",
};
const opLabel = (op) => OPERATIONS[op] || op.replace(/_/g, " ");

// --- the board ------------------------------------------------------------------------------------
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function buildBoard() {
  const counts = document.getElementById("counts");
  const board = document.getElementById("board");
  for (const { name, label } of STATES) {
    const n = el("span", { class: "n", text: "0" });
    const tileLink = el("a", { href: `#state-${name}` }, n, el("span", { class: "label", text: label }));
    const tile = el("li", { "data-state-name": name, class: "zero" }, tileLink);
    counts.append(tile);

    const count = el("span", { class: "count", text: "0" });
    const heading = el("h2", { id: `heading-${name}` }, label);
    const head = el("div", { class: "group-head" }, el("span", { class: "swatch", "aria-hidden": "true" }), heading, count);
    const list = el("ul", { "aria-labelledby": `heading-${name}` });
    const moreButton = el("button", { type: "button", class: "more-button" });
    const more = el("p", { class: "more" }, moreButton);
    more.hidden = true;
    const section = el("section", { class: "group empty", id: `state-${name}`, "data-state-name": name }, head, list, more);
    board.append(section);
    const group = { name, section, list, count, more, moreButton, tile, n, total: 0, lowest: Infinity };
    moreButton.addEventListener("click", () => fetchMore(group));
    groups.set(name, group);
  }
  board.append(el("p", { class: "empty-board", id: "empty-board", hidden: "" }));
}

function rowFor(task) {
  let row = rows.get(task.Id);
  if (!row) {
    row = document.getElementById("task-template").content.firstElementChild.cloneNode(true);
    row.dataset.taskId = String(task.Id);
    row.addEventListener("click", () => openPanel(task.Id));
    rows.set(task.Id, row);
  }
  return row;
}

function shownPercent(task) {
  // The server's Percent: 100 for a Succeeded task even if an update finished it without a report.
  const pct = task.Percent ?? task.ProgressPercent;
  return Math.max(0, Math.min(100, Number(pct) || 0));
}

function paintProgress(bar, task, label) {
  const pct = shownPercent(task);
  bar.setAttribute("aria-valuenow", String(pct));
  const extra = task.ProgressDescription ? `, ${task.ProgressDescription}` : "";
  bar.setAttribute("aria-valuetext", `${pct}%${extra}`);
  bar.setAttribute("aria-label", label);
  bar.querySelector(".fill").style.width = `${pct}%`;
  return pct;
}

function paintRow(row, task, previous) {
  row.dataset.stateName = task.State;
  row.querySelector(".task-id").textContent = `#${task.Id}`;
  const name = row.querySelector(".task-name");
  name.textContent = task.Name || "(no name)";
  name.setAttribute("aria-label", `${task.Name || "Task"} (task ${task.Id}, ${stateLabel(task.State)}): show history`);
  row.querySelector(".task-desc").textContent = task.Description || "";
  const pct = paintProgress(row.querySelector(".bar"), task, `Progress of ${task.Name || "task"} ${task.Id}`);
  row.querySelector(".pct").textContent = `${pct}%`;
  const detail = [task.ProgressDescription, task.State !== "Started" ? task.Result : null].filter(Boolean);
  row.querySelector(".progress-desc").textContent = detail.join(" · ");
  row.querySelector(".task-eta").textContent = etaText(task);
  row.querySelector(".task-when").textContent = whenText(task);
  row.classList.toggle("selected", task.Id === selectedId);
  if (previous && (previous.State !== task.State || previous.ProgressPercent !== task.ProgressPercent)) {
    row.classList.remove("flash");
    void row.offsetWidth;  // restart the animation on a second change in a row
    row.classList.add("flash");
  }
}

// Put the rows of one state in order (newest first), moving only the rows that are out of place.
function reconcile(list, wanted) {
  let cursor = list.firstElementChild;
  for (const row of wanted) {
    if (row === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(row, cursor);
  }
  while (cursor) {
    const next = cursor.nextElementSibling;
    cursor.remove();
    cursor = next;
  }
}

function renderGroups() {
  const byState = new Map(STATES.map((s) => [s.name, []]));
  for (const task of tasks.values()) {
    if (byState.has(task.State)) byState.get(task.State).push(task);
  }
  let shownTotal = 0;
  for (const [name, group] of groups) {
    const shown = byState.get(name) || [];
    shown.sort((a, b) => b.Id - a.Id);
    reconcile(group.list, shown.map((task) => rows.get(task.Id)));
    const total = group.total;
    shownTotal += total;
    group.count.textContent = total.toLocaleString();
    group.n.textContent = total.toLocaleString();
    group.tile.classList.toggle("zero", total === 0);
    group.section.classList.toggle("empty", shown.length === 0);
    const hidden = total - shown.length;
    group.more.hidden = hidden <= 0;
    group.moreButton.textContent = hidden > 0 ? `Show more (${hidden.toLocaleString()} older)` : "";
    group.count.setAttribute("aria-label", `${total} ${stateLabel(name)} tasks`);
  }
  const empty = document.getElementById("empty-board");
  empty.hidden = shownTotal > 0;
  if (shownTotal === 0) {
    empty.replaceChildren(el("strong", { text: searchText ? "No task matches the search" : "No tasks yet" }),
      searchText ? "Try another name, state or associate." :
        "Tasks appear here as soon as they are created, and move along as workers run them.");
  }
  document.getElementById("board").setAttribute("aria-busy", "false");
}

function setCounts(counts) {
  for (const [name, group] of groups) group.total = counts[name] || 0;
}

function dropTask(id) {
  tasks.delete(id);
  const row = rows.get(id);
  if (row) { row.remove(); rows.delete(id); }
}

// A card the server sent: shown in its state's column unless it is older than the rows paged in so far
// there (it then comes with "Show more", in its place).
function putTask(task, flash) {
  const group = groups.get(task.State);
  const previous = tasks.get(task.Id);
  if (!group || (task.Id < group.lowest && group.total > countShown(task.State))) {
    if (previous) dropTask(task.Id);
    return;
  }
  tasks.set(task.Id, task);
  paintRow(rowFor(task), task, flash ? previous : null);
}
function countShown(state) {
  let n = 0;
  for (const task of tasks.values()) if (task.State === state) n += 1;
  return n;
}

function applySnapshot(body) {
  tasks.clear();
  for (const id of [...rows.keys()]) dropTask(id);
  setCounts(body.counts);
  for (const [name, group] of groups) {
    const page = body.pages[name] || [];
    group.lowest = page.length && page.length < group.total ? page[page.length - 1].Id : -Infinity;
    for (const task of page) { tasks.set(task.Id, task); paintRow(rowFor(task), task, null); }
  }
  if (body.database) document.getElementById("database").textContent = body.database;
  renderGroups();
  if (selectedId !== null) refreshPanel();
}

function applyChange(body) {
  setCounts(body.counts);
  for (const id of body.remove) dropTask(id);
  for (const task of body.upsert) putTask(task, true);
  renderGroups();
  if (selectedId !== null && (body.upsert.some((t) => t.Id === selectedId) || body.remove.includes(selectedId))) {
    refreshPanel();
  }
}

async function fetchMore(group) {
  const params = new URLSearchParams({ state: group.name });
  if (searchText) params.set("search", searchText);
  if (Number.isFinite(group.lowest)) params.set("before", String(group.lowest));
  group.moreButton.disabled = true;
  try {
    const response = await api(`${TASKS_URL}?${params}`);
    if (response.status === 401) return askForToken();
    if (!response.ok) throw new Error(await refusalText(response));
    const body = await response.json();
    for (const task of body.tasks) {
      if (task.State !== group.name) continue;  // it moved meanwhile: the feed puts it where it is now
      tasks.set(task.Id, task);
      paintRow(rowFor(task), task, null);
    }
    if (body.tasks.length) group.lowest = body.tasks[body.tasks.length - 1].Id;
    if (!body.more) group.lowest = -Infinity;
    renderGroups();
  } catch (error) {
    group.moreButton.textContent = `Could not load more (${error.message})`;
  } finally {
    group.moreButton.disabled = false;
  }
  return undefined;
}

// --- the event stream -------------------------------------------------------------------------------
// Read with fetch rather than EventSource: it can send the Authorization header.
let retryMs = 1000;
let retryTimer = null;
const conn = document.getElementById("conn");
function setConn(state, text) {
  conn.dataset.state = state;
  conn.querySelector(".conn-text").textContent = text;
}

async function connect() {
  clearTimeout(retryTimer);
  if (stream) stream.abort();
  const mine = stream = new AbortController();
  setConn("connecting", "Connecting…");
  const url = searchText ? `${EVENTS_URL}?${new URLSearchParams({ search: searchText })}` : EVENTS_URL;
  let response;
  try {
    response = await api(url, { headers: { Accept: "text/event-stream" }, signal: mine.signal });
  } catch {
    return mine === stream ? reconnect() : undefined;
  }
  if (response.status === 401 || response.status === 403) return askForToken();
  if (response.status === 400) {
    setConn("down", "Search refused");
    showSearchError(await refusalText(response));
    return undefined;
  }
  showSearchError("");
  if (!response.ok || !response.body) return reconnect();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { name: "message", data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const lines = buffer.split(/\r\n|\r|\n/);
      buffer = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (event.data.length) dispatch(event.name, event.data.join("\n"));
          event = { name: "message", data: [] };
        } else if (line.startsWith(":")) {
          continue;
        } else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event.name = val;
          else if (field === "data") event.data.push(val);
          else if (field === "retry" && /^\d+$/.test(val)) retryMs = Number(val);
        }
      }
    }
  } catch {
    // the connection dropped, or a new search replaced it
  }
  return mine === stream ? reconnect() : undefined;
}

function reconnect() {
  setConn("down", "Reconnecting…");
  retryTimer = setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 15000);
}

function dispatch(name, data) {
  const body = JSON.parse(data);
  if (name === "snapshot") {
    applySnapshot(body);
    retryMs = 2000;
    setConn("live", "Live");
  } else if (name === "change") {
    applyChange(body);
  }
}

function showSearchError(text) {
  const note = document.getElementById("search-error");
  note.textContent = text;
  note.hidden = !text;
}

async function refusalText(response) {
  try {
    const body = await response.json();
    return body.message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

// --- the side panel --------------------------------------------------------------------------------
const panel = document.getElementById("panel");
let historyRequest = 0;

function openPanel(id) {
  selectedId = id;
  for (const [rowId, row] of rows) row.classList.toggle("selected", rowId === id);
  panel.hidden = false;
  document.body.classList.add("panel-open");
  showActionResult("", "");
  refreshPanel();
  document.getElementById("panel-title").focus();
}

function closePanel() {
  const previous = selectedId;
  selectedId = null;
  panel.hidden = true;
  document.body.classList.remove("panel-open");
  for (const row of rows.values()) row.classList.remove("selected");
  const row = rows.get(previous);
  if (row) row.querySelector(".task-name").focus();
}

// What each button does, when it is offered, and what the confirmation says.
const ACTIONS = [
  { name: "stop", label: "Stop", method: "POST", tail: "/stop",
    offered: (t) => ["New", "Aquired", "Started"].includes(t.State) && t.CancellationBehaviour !== "CannotCancel",
    confirm: (t) => `Stop task #${t.Id} (${t.Name || "no name"})?` + (t.State === "Started" ? " Its worker is asked to stop." : " It fails at once."),
    done: "Stop requested" },
  { name: "requeue", label: "Requeue", method: "POST", tail: "/requeue",
    offered: (t) => t.State === "Failed",
    confirm: (t) => `Requeue task #${t.Id} (${t.Name || "no name"})? It goes back to New for a worker to run again.`,
    done: "Requeued" },
  { name: "delete", label: "Delete", method: "DELETE", tail: "",
    offered: () => true,
    confirm: (t) => `Delete task #${t.Id} (${t.Name || "no name"}) with its history? This cannot be undone.`,
    done: "Deleted" },
];

function actionButtons(task) {
  const bar = el("div", { class: "actions", role: "group", "aria-label": "Actions" });
  for (const action of ACTIONS) {
    if (!action.offered(task)) continue;
    const button = el("button", { type: "button", class: `action action-${action.name}`, "data-action": action.name, text: action.label });
    button.addEventListener("click", () => runAction(action, task));
    bar.append(button);
  }
  return bar;
}

async function runAction(action, task) {
  if (!window.confirm(action.confirm(task))) return;
  showActionResult("", "");
  let response;
  try {
    response = await api(taskUrl(task.Id, action.tail), {
      method: action.method,
      headers: action.method === "POST" ? { "Content-Type": "application/json" } : {},
      body: action.method === "POST" ? JSON.stringify(action.name === "requeue" ? { By: "dashboard" } : {}) : undefined,
    });
  } catch (error) {
    showActionResult("refused", `${action.label} failed: ${error.message}`);
    return;
  }
  if (response.status === 401) { askForToken(); return; }
  if (!response.ok) {
    // The server's own words: why it refused (a finished task cannot be stopped, say).
    showActionResult("refused", await refusalText(response));
    return;
  }
  showActionResult("done", `${action.done}: task #${task.Id}`);  // the board itself follows through the feed
}

function showActionResult(kind, text) {
  const note = document.getElementById("action-result");
  note.dataset.kind = kind;
  note.textContent = text;
  note.hidden = !text;
}

function refreshPanel() {
  const task = tasks.get(selectedId);
  document.getElementById("panel-kicker").textContent = `Task #${selectedId}`;
  document.getElementById("panel-title").textContent = task ? task.Name || "(no name)" : "Not on the board";
  const summary = document.getElementById("panel-summary");
  if (!task) {
    summary.replaceChildren(el("p", { class: "history-note", text: "This task is no longer in the store, or no longer matches the search." }));
    document.getElementById("history").replaceChildren();
    return;
  }
  const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" }, el("span", { class: "fill" }));
  paintProgress(bar, task, `Progress of ${task.Name || "task"} ${task.Id}`);
  const facts = [
    ["Progress", `${shownPercent(task)}%${task.ProgressDescription ? ` · ${task.ProgressDescription}` : ""}`],
    ["Rate", etaText(task)],
    ["Description", task.Description],
    ["Associate", task.AssociateId],
    ["Created", task.Created],
    ["Last started", task.LastStarted],
    ["Starts", task.StartCount],
    ["Result", task.Result],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  const dl = el("dl", {}, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: valueText(v) })]));
  const badge = el("span", { class: "badge", "data-state-name": task.State, text: stateLabel(task.State) });
  summary.replaceChildren(badge, bar, actionButtons(task), dl);
  summary.dataset.stateName = task.State;
  loadHistory(task.Id);
}

async function loadHistory(id) {
  const ticket = ++historyRequest;
  const list = document.getElementById("history");
  list.setAttribute("aria-busy", "true");
  let entries;
  try {
    const response = await api(taskUrl(id, "/history"));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    entries = await response.json();
  } catch (error) {
    if (ticket === historyRequest) {
      list.replaceChildren(el("li", { class: "history-note", text: `History could not be read (${error.message}).` }));
      list.setAttribute("aria-busy", "false");
    }
    return;
  }
  if (ticket !== historyRequest || id !== selectedId) return;  // a later click won
  list.replaceChildren(...entries.slice().reverse().map(historyItem));
  if (!entries.length) list.append(el("li", { class: "history-note", text: "No history: internal tasks keep none." }));
  list.setAttribute("aria-busy", "false");
}

const OP_COLOURS = { succeed: "succeeded", fail: "failed", start: "started", acquire: "aquired", create: "new", requeue: "new" };

function historyItem(entry) {
  const changes = el("ul", { class: "changes" });
  for (const [field, pair] of Object.entries(entry.changes || {})) {
    const [oldValue, newValue] = Array.isArray(pair) ? pair : [null, pair];
    const item = el("li", {}, el("span", { class: "field", text: `${field}: ` }));
    if (oldValue !== null && oldValue !== undefined) {
      item.append(el("span", { class: "old", text: valueText(oldValue, field) }), el("span", { class: "arrow", "aria-label": "changed to", text: "→" }));
    }
    item.append(el("span", { class: "new", text: valueText(newValue, field) }));
    changes.append(item);
  }
  const at = Date.parse(entry.at);
  const time = el("time", { datetime: entry.at, title: Number.isNaN(at) ? entry.at : timeFmt.format(at), text: Number.isNaN(at) ? entry.at : clockFmt.format(at) });
  const meta = el("div", { class: "meta" }, time, entry.worker ? ` · ${entry.worker}` : "");
  const item = el("li", {}, el("div", { class: "op", text: opLabel(entry.operation) }), meta, changes);
  const colour = OP_COLOURS[entry.operation];
  if (colour) item.style.setProperty("--op", `var(--c-${colour})`);
  return item;
}

// --- start -----------------------------------------------------------------------------------------
function start() {
  readToken();
  buildBoard();
  let typing = null;
  document.getElementById("filter").addEventListener("input", (e) => {
    clearTimeout(typing);
    // The server searches (name, state, associate): ask it once the typing pauses.
    typing = setTimeout(() => {
      searchText = e.target.value.trim();
      retryMs = 1000;
      connect();
    }, 300);
  });
  document.getElementById("panel-close").addEventListener("click", closePanel);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !panel.hidden) closePanel(); });
  document.getElementById("auth").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value);
    e.target.hidden = true;
    retryMs = 1000;
    connect();
  });
  // Relative times ("3 minutes ago", "done in about 4 minutes") age while nothing changes.
  setInterval(() => {
    for (const [id, row] of rows) {
      const task = tasks.get(id);
      if (!task) continue;
      row.querySelector(".task-when").textContent = whenText(task);
      row.querySelector(".task-eta").textContent = etaText(task);
    }
  }, 30000);
  connect();
}
start();
