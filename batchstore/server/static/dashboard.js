// batchstore dashboard: tasks by state, kept live by the server's event stream.
// No framework and no build step: one model (a Map of tasks) and DOM rows kept per task, updated in
// place so a progress bar glides from its old width to its new one.
"use strict";

const STATES = [
  { name: "New", label: "New" },
  { name: "Aquired", label: "Acquired" },
  { name: "Started", label: "Started" },
  { name: "Succeeded", label: "Succeeded" },
  { name: "SucceededManualCleanup", label: "Succeeded, manual cleanup" },
  { name: "Failed", label: "Failed" },
];
const EVENTS_URL = "/batchstore/v1/events";
const historyUrl = (id) => `/batchstore/v1/tasks/${encodeURIComponent(id)}/history`;
const ROWS_PER_STATE = 200;  // a state with thousands of tasks shows its newest; the count stays exact
const TOKEN_KEY = "batchstore.token";

const tasks = new Map();   // Id -> task (wire names)
const rows = new Map();    // Id -> <li>
const groups = new Map();  // state name -> {section, list, count, more, tile}
let selectedId = null;
let filterText = "";

// --- the token ----------------------------------------------------------------------------------
// A token comes in the URL fragment (#token=...), which the browser never sends to the server; it is
// kept for this tab only and taken out of the address bar. A browser that signed in with Basic
// authentication sends its credentials by itself, so no token is needed then.
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

// --- formatting -----------------------------------------------------------------------------------
const stateLabel = (name) => (STATES.find((s) => s.name === name) || { label: name }).label;
const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;
const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const clockFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 45) return "just now";
  const units = [["d", 86400], ["h", 3600], ["min", 60]];
  for (const [unit, size] of units) {
    if (seconds >= size) return `${Math.round(seconds / size)} ${unit} ago`;
  }
  return "1 min ago";
}
function whenText(task) {
  if (task.State === "New") return task.Created ? `created ${ago(task.Created)}` : "";
  if (task.LastStarted) {
    const again = task.StartCount > 1 ? ` (start ${task.StartCount})` : "";
    return `started ${ago(task.LastStarted)}${again}`;
  }
  return task.Created ? `created ${ago(task.Created)}` : "";
}
function valueText(value) {
  if (value === null || value === undefined || value === "") return "—";
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
  recover: "Recovered", recover_stale: "Recovered",
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
    const more = el("p", { class: "more" });
    more.hidden = true;
    const section = el("section", { class: "group empty", id: `state-${name}`, "data-state-name": name }, head, list, more);
    board.append(section);
    groups.set(name, { section, list, count, more, tile, n });
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

function paintProgress(bar, task, label) {
  const pct = Math.max(0, Math.min(100, Number(task.ProgressPercent) || 0));
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
  row.querySelector(".task-when").textContent = whenText(task);
  row.classList.toggle("selected", task.Id === selectedId);
  if (previous && (previous.State !== task.State || previous.ProgressPercent !== task.ProgressPercent)) {
    row.classList.remove("flash");
    void row.offsetWidth;  // restart the animation on a second change in a row
    row.classList.add("flash");
  }
}

function matches(task) {
  if (!filterText) return true;
  const hay = `${task.Id} ${task.Name || ""} ${task.Description || ""} ${task.ProgressDescription || ""}`;
  return hay.toLowerCase().includes(filterText);
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
    if (!byState.has(task.State)) byState.set(task.State, []);
    byState.get(task.State).push(task);
  }
  for (const [name, group] of groups) {
    const all = byState.get(name) || [];
    all.sort((a, b) => b.Id - a.Id);
    const shown = all.filter(matches);
    const visible = shown.slice(0, ROWS_PER_STATE);
    reconcile(group.list, visible.map((task) => rows.get(task.Id)));
    group.count.textContent = String(all.length);
    group.n.textContent = all.length.toLocaleString();
    group.tile.classList.toggle("zero", all.length === 0);
    group.section.classList.toggle("empty", visible.length === 0);
    const hidden = shown.length - visible.length;
    group.more.hidden = hidden <= 0;
    group.more.textContent = hidden > 0 ? `and ${hidden.toLocaleString()} older ${name} tasks not shown` : "";
    group.count.setAttribute("aria-label", `${all.length} ${stateLabel(name)} tasks`);
  }
  const empty = document.getElementById("empty-board");
  empty.hidden = tasks.size > 0;
  if (tasks.size === 0) {
    empty.replaceChildren(el("strong", { text: "No tasks yet" }),
      "Tasks appear here as soon as they are created, and move along as workers run them.");
  }
  document.getElementById("board").setAttribute("aria-busy", "false");
}

function applyTasks(upserts, removes, initial) {
  if (initial) {
    tasks.clear();
    for (const [id, row] of rows) { row.remove(); rows.delete(id); }
  }
  for (const task of upserts) {
    const previous = tasks.get(task.Id);
    tasks.set(task.Id, task);
    paintRow(rowFor(task), task, initial ? null : previous);
  }
  for (const id of removes) {
    tasks.delete(id);
    const row = rows.get(id);
    if (row) { row.remove(); rows.delete(id); }
  }
  renderGroups();
  if (selectedId !== null && (initial || upserts.some((t) => t.Id === selectedId) || removes.includes(selectedId))) {
    refreshPanel();
  }
}

// --- the event stream -------------------------------------------------------------------------------
// Read with fetch rather than EventSource: it can send the Authorization header.
let retryMs = 1000;
const conn = document.getElementById("conn");
function setConn(state, text) {
  conn.dataset.state = state;
  conn.querySelector(".conn-text").textContent = text;
}

async function connect() {
  setConn("connecting", "Connecting…");
  let response;
  try {
    response = await fetch(EVENTS_URL, { headers: { Accept: "text/event-stream", ...authHeaders() }, cache: "no-store" });
  } catch {
    return reconnect();
  }
  if (response.status === 401 || response.status === 403) {
    setConn("down", "Token needed");
    const form = document.getElementById("auth");
    form.hidden = false;
    document.getElementById("token").focus();
    return undefined;
  }
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
    // the connection dropped: reconnect below
  }
  return reconnect();
}

function reconnect() {
  setConn("down", "Reconnecting…");
  setTimeout(connect, retryMs);
  retryMs = Math.min(retryMs * 2, 15000);
}

function dispatch(name, data) {
  const body = JSON.parse(data);
  if (name === "snapshot") {
    applyTasks(body.tasks, [], true);
    retryMs = 2000;
    setConn("live", "Live");
  } else if (name === "change") {
    applyTasks(body.upsert, body.remove, false);
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

function refreshPanel() {
  const task = tasks.get(selectedId);
  document.getElementById("panel-kicker").textContent = `Task #${selectedId}`;
  document.getElementById("panel-title").textContent = task ? task.Name || "(no name)" : "Deleted task";
  const summary = document.getElementById("panel-summary");
  if (!task) {
    summary.replaceChildren(el("p", { class: "history-note", text: "This task is no longer in the store." }));
    document.getElementById("history").replaceChildren();
    return;
  }
  const bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" }, el("span", { class: "fill" }));
  paintProgress(bar, task, `Progress of ${task.Name || "task"} ${task.Id}`);
  const facts = [
    ["Progress", `${task.ProgressPercent ?? 0}%${task.ProgressDescription ? ` · ${task.ProgressDescription}` : ""}`],
    ["Description", task.Description],
    ["Created", task.Created],
    ["Last started", task.LastStarted],
    ["Starts", task.StartCount],
    ["Result", task.Result],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  const dl = el("dl", {}, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: valueText(v) })]));
  const badge = el("span", { class: "badge", "data-state-name": task.State, text: stateLabel(task.State) });
  summary.replaceChildren(badge, bar, dl);
  summary.dataset.stateName = task.State;
  loadHistory(task.Id);
}

async function loadHistory(id) {
  const ticket = ++historyRequest;
  const list = document.getElementById("history");
  list.setAttribute("aria-busy", "true");
  let entries;
  try {
    const response = await fetch(historyUrl(id), { headers: authHeaders(), cache: "no-store" });
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

function historyItem(entry) {
  const changes = el("ul", { class: "changes" });
  for (const [field, pair] of Object.entries(entry.changes || {})) {
    const [oldValue, newValue] = Array.isArray(pair) ? pair : [null, pair];
    const item = el("li", {}, el("span", { class: "field", text: `${field}: ` }));
    if (oldValue !== null && oldValue !== undefined) {
      item.append(el("span", { class: "old", text: valueText(oldValue) }), el("span", { class: "arrow", "aria-label": "changed to", text: "→" }));
    }
    item.append(el("span", { class: "new", text: valueText(newValue) }));
    changes.append(item);
  }
  const at = Date.parse(entry.at);
  const time = el("time", { datetime: entry.at, title: Number.isNaN(at) ? entry.at : timeFmt.format(at), text: Number.isNaN(at) ? entry.at : clockFmt.format(at) });
  const meta = el("div", { class: "meta" }, time, entry.worker ? ` · ${entry.worker}` : "");
  const opState = { succeed: "Succeeded", fail: "Failed", start: "Started", acquire: "Aquired", create: "New" }[entry.operation];
  const item = el("li", {}, el("div", { class: "op", text: opLabel(entry.operation) }), meta, changes);
  if (opState) item.style.setProperty("--op", `var(--c-${{ Aquired: "aquired", New: "new", Started: "started", Succeeded: "succeeded", Failed: "failed" }[opState]})`);
  return item;
}

// --- start -----------------------------------------------------------------------------------------
function start() {
  readToken();
  buildBoard();
  document.getElementById("filter").addEventListener("input", (e) => {
    filterText = e.target.value.trim().toLowerCase();
    renderGroups();
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
  // Relative times ("3 min ago") age while nothing changes.
  setInterval(() => { for (const [id, row] of rows) row.querySelector(".task-when").textContent = whenText(tasks.get(id)); }, 30000);
  connect();
}
start();
