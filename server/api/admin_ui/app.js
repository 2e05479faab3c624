// The admin dashboard: reads the admin API only (schema/openapi.yaml). The key is kept in
// sessionStorage (this tab, until it closes); `#key=...&order=...` in the address sets it and
// searches an order, for scripted use. Live data comes from GET /v1/admin/live, server-sent
// events read with fetch() (EventSource cannot send an Authorization header).
'use strict';

const KEY = 'proofbook_admin_key';
const POINTS = 120;  // chart history: two minutes of snapshots
const $ = (id) => document.getElementById(id);

let key = sessionStorage.getItem(KEY) || '';
let last = null;  // the previous snapshot's counters and time, for rates
const series = { orders: [], settlements: [] };
let stream = null;  // the live fetch's AbortController

function api(path, options = {}) {
  return fetch(path, { ...options, headers: { Authorization: 'Bearer ' + key } });
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleTimeString() : '';
}

// Fills a table body with rows of cells (text only: nothing from the server is parsed as HTML).
function fill(tableId, rows, cells, kind) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren(...rows.map((row) => {
    const tr = document.createElement('tr');
    tr.dataset.kind = kind;
    for (const value of cells(row)) {
      const td = document.createElement('td');
      td.textContent = value === null || value === undefined ? '' : String(value);
      tr.appendChild(td);
    }
    return tr;
  }));
}

function drawChart(canvasId, points) {
  const canvas = $(canvasId);
  canvas.dataset.points = String(points.length);
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height, pad = 18;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#2a3550';
  ctx.strokeRect(0.5, 0.5, w - 1, h - 1);
  if (points.length === 0) return;
  const max = Math.max(1, ...points);
  ctx.fillStyle = '#8893ad';
  ctx.font = '11px system-ui';
  ctx.fillText(max.toFixed(max < 10 ? 1 : 0) + '/s', 4, 12);
  ctx.strokeStyle = '#6ea8ff';
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((v, i) => {
    const x = pad + (i * (w - 2 * pad)) / Math.max(1, POINTS - 1);
    const y = h - pad - (v / max) * (h - 2 * pad);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function push(name, value) {
  series[name].push(value);
  if (series[name].length > POINTS) series[name].shift();
}

function showSnapshot(s) {
  const c = s.counters;
  if (last) {
    const dt = Math.max(0.001, (s.at_ms - last.at_ms) / 1000);
    const orders = (c.orders_placed - last.counters.orders_placed) / dt;
    const settled = (c.settlements - last.counters.settlements) / dt;
    push('orders', orders);
    push('settlements', settled);
    $('orders-rate').textContent = orders.toFixed(1);
    $('settlements-rate').textContent = settled.toFixed(1);
  }
  last = s;
  drawChart('orders-chart', series.orders);
  drawChart('settlements-chart', series.settlements);

  const names = { orders_placed: 'placed', orders_completed: 'completed', orders_expired: 'expired',
                  orders_failed: 'failed', assignments: 'assignments', settlements: 'settlements',
                  slashes: 'slashes' };
  $('counters').replaceChildren(...Object.entries(names).map(([k, label]) => {
    const div = document.createElement('div');
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = label;
    dd.textContent = String(c[k]);
    dd.dataset.counter = k;
    div.append(dt, dd);
    return div;
  }));
  const ledger = $('ledger');
  if (c.ledger_check_ok === 1) {
    ledger.dataset.state = 'ok';
    ledger.textContent = 'ledger: balanced';
  } else if (c.ledger_check_ok === 0) {
    ledger.dataset.state = 'bad';
    ledger.textContent = 'ledger: ' + c.ledger_check_differences + ' buckets differ';
  }

  fill('books', s.books, (b) => [b.market, b.open_orders, b.best_bid, b.open_offers, b.best_ask,
                                 b.capacity], 'book');
  fill('settlements', s.settlements, (r) => [r.id, r.order, r.prover, r.market, r.amount, r.kind,
                                             fmtTime(r.at_ms)], 'settlement');
  fill('slashings', s.slashings, (r) => [r.id, r.order, r.prover, r.market, r.amount, r.reason,
                                         fmtTime(r.at_ms)], 'slashing');
  fill('provers', s.provers || [], (p) => [p.id, p.name, p.stake, p.reputation_bps, p.won,
                                           p.settled, p.missed, p.invalid, p.slashed, p.earned,
                                           p.delivery_median_ms, p.delivery_p95_ms], 'prover');
  $('provers-as-of').textContent = s.provers_as_of_ms ? 'as of ' + fmtTime(s.provers_as_of_ms) : '';
}

// Reads server-sent events from a fetch body: blocks separated by a blank line, `event:` and
// `data:` fields.
async function live() {
  if (stream) stream.abort();
  stream = new AbortController();
  setStatus('idle', 'connecting');
  try {
    const r = await api('/v1/admin/live', { signal: stream.signal });
    if (r.status === 401 || r.status === 403) return logout('that key is not an admin key');
    if (!r.ok) throw new Error('HTTP ' + r.status);
    setStatus('live', 'live');
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trim();
        }
        if (event === 'snapshot' && data) showSnapshot(JSON.parse(data));
      }
    }
    throw new Error('stream ended');
  } catch (e) {
    if (e.name === 'AbortError') return;
    setStatus('error', 'reconnecting (' + e.message + ')');
    setTimeout(live, 2000);
  }
}

function dl(pairs) {
  const list = document.createElement('dl');
  for (const [k, v] of pairs) {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
    list.append(dt, dd);
  }
  return list;
}

async function findOrder(id) {
  $('found').hidden = false;
  $('found-id').textContent = id;
  const body = $('found-body');
  const r = await api('/v1/orders/' + encodeURIComponent(id));
  const json = await r.json();
  if (!r.ok) {
    body.replaceChildren(dl([['error', json.error ? json.error.code + ': ' + json.error.message
                                                  : 'HTTP ' + r.status]]));
    body.dataset.found = 'no';
    return;
  }
  const o = json.order;
  body.dataset.found = 'yes';
  body.replaceChildren(dl([
    ['status', o.status], ['market', o.market], ['sequencer', o.sequencer],
    ['max price', o.max_price], ['deadline', new Date(o.deadline_ms).toLocaleString()],
    ['redundancy', o.redundancy], ['verified', o.verified], ['escrow left', o.escrow_left],
    ['assignments', (o.assignments || []).map((a) => `#${a.id} prover ${a.prover} ${a.status}`)
                                      .join('; ') || 'none'],
  ]));
}

function logout(message) {
  if (stream) stream.abort();
  sessionStorage.removeItem(KEY);
  key = '';
  $('dashboard').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  setStatus('idle', 'not connected');
}

function start() {
  $('login').hidden = true;
  $('dashboard').hidden = false;
  live();
}

function init() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('key')) {
    key = hash.get('key');
    sessionStorage.setItem(KEY, key);
    history.replaceState(null, '', location.pathname);  // the key leaves the address bar
  }
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    key = $('key').value.trim();
    sessionStorage.setItem(KEY, key);
    $('key').value = '';
    start();
  });
  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('order-id').value.trim();
    if (id) findOrder(id);
  });
  $('forget').addEventListener('click', () => logout());
  if (!key) return logout();
  start();
  if (hash.get('order')) {
    $('order-id').value = hash.get('order');
    findOrder(hash.get('order'));
  }
}

init();
