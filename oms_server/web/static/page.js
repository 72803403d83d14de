// The operator page: sign in with a bearer token, then follow /api/events (Server-Sent
// Events). The event id is the feed's position (every account's last sequence): the
// browser resends it as Last-Event-ID when it reconnects by itself, and the page passes
// it as ?after= when it reconnects itself, so a dropped connection misses no report.
"use strict";

const MAX_ORDERS = 2000;
const MAX_FILLS = 1000;
const RECONNECT_MS = 1000;

const feed = { source: null, lastId: "", timer: null, session: null };
const orders = new Map(); // order_id -> {row, venues: Set}
const fills = new Set(); // "account:sequence" already shown
let pendingConfirm = null;

const $ = (selector) => document.querySelector(selector);

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { ok: false, status: 0, data: { error: "the OMS is not reachable" } };
  }
  let data = {};
  try { data = await response.json(); } catch (error) { data = {}; }
  return { ok: response.ok, status: response.status, data };
}

// -- session ------------------------------------------------------------------------------

function showLogin(message) {
  disconnect();
  feed.session = null;
  feed.lastId = "";
  orders.clear();
  fills.clear();
  for (const id of ["orders", "fills", "accounts", "positions", "venues"]) {
    $(`table#${id} tbody`).replaceChildren();
  }
  $("#live").hidden = true;
  $("#admin-controls").hidden = true;
  $("#sign-out").hidden = true;
  $("#halt-state").hidden = true;
  $("#who").textContent = "";
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  setStatus("off", "signed out");
  $("#token").focus();
}

function enter(session) {
  feed.session = session;
  $("#login").hidden = true;
  $("#login-error").textContent = "";
  $("#live").hidden = false;
  $("#sign-out").hidden = false;
  $("#admin-controls").hidden = !session.admin;
  const scope = session.admin ? "all accounts" : session.accounts.join(", ") || "no accounts";
  $("#who").textContent = `${session.subject} (${session.role}) · ${scope}`;
  connect();
}

async function signIn(event) {
  event.preventDefault();
  const input = $("#token");
  const result = await api("POST", "/api/session", { token: input.value });
  if (!result.ok) {
    showLogin(result.data.error || `sign-in failed (HTTP ${result.status})`);
    return;
  }
  input.value = "";
  enter(result.data);
}

async function signOut() {
  await api("DELETE", "/api/session");
  showLogin("");
}

// -- the feed -----------------------------------------------------------------------------

function setStatus(state, text) {
  const status = $("#feed-status");
  status.dataset.state = state;
  status.textContent = text;
}

function connect() {
  disconnect();
  const url = feed.lastId ? `/api/events?after=${encodeURIComponent(feed.lastId)}` : "/api/events";
  const source = new EventSource(url);
  feed.source = source;
  setStatus("reconnecting", "connecting");
  source.onopen = () => setStatus("live", "live");
  source.onerror = () => onFeedError(source);
  source.addEventListener("reports", (event) => {
    feed.lastId = event.lastEventId;
    for (const report of JSON.parse(event.data)) showReport(report);
    $("#orders-count").textContent = orders.size;
    $("#fills-count").textContent = fills.size;
  });
  source.addEventListener("hello", (event) => {
    const hello = JSON.parse(event.data);
    if (hello.accounts_shown < hello.accounts_total) {
      notice(`showing the first ${hello.accounts_shown} of ${hello.accounts_total} accounts`);
    }
  });
  source.addEventListener("accounts", (event) => showAccounts(JSON.parse(event.data)));
  source.addEventListener("venues", (event) => showVenues(JSON.parse(event.data)));
  source.addEventListener("feed-error", (event) => notice(JSON.parse(event.data).message));
}

function disconnect() {
  clearTimeout(feed.timer);
  if (feed.source) feed.source.close();
  feed.source = null;
}

async function onFeedError(source) {
  if (source !== feed.source) return;
  if (source.readyState === EventSource.CONNECTING) {
    setStatus("reconnecting", "reconnecting"); // the browser retries with Last-Event-ID
    return;
  }
  // Closed for good (an HTTP error): a refused token signs out, anything else retries.
  setStatus("reconnecting", "reconnecting");
  const check = await api("GET", "/api/session");
  if (source !== feed.source) return;
  if (check.status === 401) {
    showLogin(check.data.error || "the token is no longer valid");
    return;
  }
  feed.timer = setTimeout(connect, RECONNECT_MS);
}

// -- tables -------------------------------------------------------------------------------

function cell(row, column, text, numeric) {
  let td = row.querySelector(`td[data-col="${column}"]`);
  if (!td) {
    td = document.createElement("td");
    td.dataset.col = column;
    if (numeric) td.className = "num";
    row.appendChild(td);
  }
  if (td.textContent !== text) {
    td.textContent = text;
    td.title = text;
  }
  td.dataset.value = text;
  return td;
}

function signed(td, text) {
  td.classList.toggle("pos", text !== "" && !text.startsWith("-") && !/^0(\.0*)?$/.test(text));
  td.classList.toggle("neg", text.startsWith("-"));
}

function showReport(report) {
  let entry = orders.get(report.order_id);
  if (!entry) {
    const row = document.createElement("tr");
    row.dataset.orderId = report.order_id;
    row.dataset.account = report.account_id;
    row.className = "fresh";
    entry = { row, venues: new Set() };
    orders.set(report.order_id, entry);
    $("table#orders tbody").prepend(row);
    trim(orders, "table#orders tbody", MAX_ORDERS);
  }
  const row = entry.row;
  if (report.fill && report.venue) entry.venues.add(report.venue);
  row.dataset.state = report.state;
  cell(row, "time", report.time);
  cell(row, "order_id", report.order_id);
  cell(row, "account", report.account_id);
  cell(row, "symbol", report.symbol);
  cell(row, "side", report.side);
  cell(row, "quantity", report.quantity, true);
  cell(row, "cum_qty", report.cum_qty, true);
  cell(row, "leaves_qty", report.leaves_qty, true);
  cell(row, "avg_price", report.avg_price, true);
  cell(row, "state", report.state);
  cell(row, "venues", [...entry.venues].sort().join(" "));
  if (report.fill) showFill(report);
}

function showFill(report) {
  const key = `${report.account_id}:${report.sequence}`;
  if (fills.has(key)) return;
  fills.add(key);
  const row = document.createElement("tr");
  row.dataset.orderId = report.order_id;
  row.dataset.fill = key;
  row.className = "fresh";
  cell(row, "time", report.time);
  cell(row, "order_id", report.order_id);
  cell(row, "symbol", report.symbol);
  cell(row, "side", report.side);
  cell(row, "last_qty", report.last_qty, true);
  cell(row, "last_price", report.last_price, true);
  cell(row, "venue", report.venue);
  const body = $("table#fills tbody");
  body.prepend(row);
  while (body.rows.length > MAX_FILLS) body.lastElementChild.remove();
}

function trim(map, selector, limit) {
  const body = $(selector);
  while (body.rows.length > limit) {
    const last = body.lastElementChild;
    map.delete(last.dataset.orderId);
    last.remove();
  }
}

// Rows keyed by id, updated in place: nothing jumps, a button under the pointer stays.
function keyedRows(selector, items, keyOf, fill) {
  const body = $(selector);
  const wanted = new Set();
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    wanted.add(key);
    let row = body.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
    if (!row) {
      row = document.createElement("tr");
      row.dataset.key = key;
    }
    fill(row, item);
    const next = previous ? previous.nextElementSibling : body.firstElementChild;
    if (next !== row) body.insertBefore(row, next);
    previous = row;
  }
  for (const row of [...body.rows]) if (!wanted.has(row.dataset.key)) row.remove();
}

function showAccounts(accounts) {
  const admin = feed.session && feed.session.admin;
  keyedRows("table#accounts tbody", accounts, (a) => a.account_id, (row, a) => {
    row.dataset.accountId = a.account_id;
    cell(row, "account", a.account_id);
    cell(row, "cash", a.cash, true);
    cell(row, "buying_power", a.buying_power, true);
    const status = cell(row, "status", a.halted ? `HALTED: ${a.halted}` : "trading");
    status.classList.toggle("halted", Boolean(a.halted));
    const actions = row.querySelector('td[data-col="actions"]') || cell(row, "actions", "");
    if (admin && !actions.firstChild) {
      actions.append(
        button("Halt", "halt-account", a.account_id, "small danger"),
        " ",
        button("Resume", "resume-account", a.account_id, "small"),
      );
    }
  });
  const positions = accounts.flatMap((a) => a.positions.map((p) => ({ ...p, account_id: a.account_id })));
  keyedRows("table#positions tbody", positions, (p) => `${p.account_id}/${p.symbol}`, (row, p) => {
    row.dataset.account = p.account_id;
    row.dataset.symbol = p.symbol;
    cell(row, "account", p.account_id);
    cell(row, "symbol", p.symbol);
    cell(row, "quantity", p.quantity, true);
    cell(row, "average_cost", p.average_cost, true);
    cell(row, "mark", p.mark, true);
    signed(cell(row, "realized_pnl", p.realized_pnl, true), p.realized_pnl);
    signed(cell(row, "unrealized_pnl", p.unrealized_pnl, true), p.unrealized_pnl);
  });
  const halted = accounts.length > 0 && accounts.every((a) => a.halted);
  $("#halt-state").hidden = !halted;
}

function showVenues(venues) {
  keyedRows("table#venues tbody", venues, (v) => v.name, (row, v) => {
    row.dataset.venue = v.name;
    cell(row, "name", v.name);
    cell(row, "breaker", v.breaker);
    cell(row, "failures", String(v.failures), true);
    cell(row, "working", String(v.working), true);
    cell(row, "quote_age", v.quote_age_ms === "" ? "" : `${v.quote_age_ms} ms`, true);
    cell(row, "note", v.note);
  });
}

function button(text, action, account, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.dataset.action = action;
  b.dataset.account = account;
  b.className = className;
  return b;
}

// -- the kill switch ----------------------------------------------------------------------

function notice(text) {
  $("#notice").textContent = text;
  $("#notice").title = text;
}

function ask(question, action) {
  pendingConfirm = action;
  $("#confirm-text").textContent = question;
  $("#confirm").hidden = false;
  $('#confirm button[data-action="cancel-confirm"]').focus();
}

function closeConfirm() {
  pendingConfirm = null;
  $("#confirm").hidden = true;
}

async function control(path, accountId) {
  const result = await api("POST", path, accountId ? { account_id: accountId } : {});
  if (!result.ok) {
    notice(result.data.error || `refused (HTTP ${result.status})`);
    return;
  }
  const d = result.data;
  notice(d.halted ? `halted ${d.halted}: ${d.orders_canceled} working orders canceled`
    : `resumed ${d.resumed}`);
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("button[data-action]");
  if (!target) return;
  const account = target.dataset.account;
  switch (target.dataset.action) {
    case "halt":
      ask("Halt ALL trading? Every working order is canceled and new orders are refused.",
        () => control("/api/halt"));
      break;
    case "halt-account":
      ask(`Halt account ${account}? Its working orders are canceled.`,
        () => control("/api/halt", account));
      break;
    case "resume":
      control("/api/resume");
      break;
    case "resume-account":
      control("/api/resume", account);
      break;
    case "confirm": {
      const action = pendingConfirm;
      closeConfirm();
      if (action) action();
      break;
    }
    case "cancel-confirm":
      closeConfirm();
      break;
    case "sign-out":
      signOut();
      break;
    default:
      break;
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !$("#confirm").hidden) closeConfirm();
});

window.addEventListener("DOMContentLoaded", async () => {
  $("#login-form").addEventListener("submit", signIn);
  const session = await api("GET", "/api/session");
  if (session.ok) enter(session.data);
  else showLogin("");
});
