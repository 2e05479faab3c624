#!/usr/bin/env node
// chaos_client.js: the sequencers and the API-side checks of loadtest/chaos.sh. Loopback only;
// Node's own http module, no npm package.
//
//   node chaos_client.js sequence --port P --keys K1,K2 --market M --workers N --rate R
//                                 --acks FILE --prefix X --stop-file F [--inputs JSON]
//       N workers per key place orders, together about R a second, each with a new
//       client_order_id (X-<key>-<worker>-<n>). A 201 or 200 is appended to FILE as one line
//       "client_order_id<TAB>order id<TAB>status<TAB>key index<TAB>attempts". A transport error,
//       timeout, 429 or 5xx sends the same body again (same client_order_id) after a backoff, for
//       at most --give-up-s, so a crash or outage is ridden out by idempotent replay. Any other
//       answer is a refusal, counted and logged to stderr. Stops placing new orders when the stop
//       file exists (the order in hand is finished first), or after --max-s. Prints a JSON summary.
//   node chaos_client.js replay --port P --keys K1,K2 --market M --acks FILE [--from-line L]
//                               [--max-new K] [--sample N] [--inputs JSON]
//       Sends the acknowledged orders again, exactly as placed: the lines from L on (K of them
//       drawn at random, with --max-new), and N more drawn from the lines before (all of them
//       without --sample). Each must be answered 200
//       with the same order id. Prints {"replayed","mismatched","failed"}; details on stderr.
//   node chaos_client.js balances --port P --keys K1,K2
//       One line per key: "account available escrowed staked", from GET /v1/accounts/me.
//
// An order's body is a function of its client_order_id (and the fixed --market, --max-price,
// --deadline-ms, --inputs), so a replay is byte-for-byte the request first acknowledged. Without
// --inputs, the inputs are a sha256-preimage statement: the digest of the client_order_id with
// the client_order_id as the preimage hint, which proofbook-prover proves at once.
'use strict';

const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

function parseArgs(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      out[a.slice(2)] = argv[i + 1];
      i++;
    } else {
      out._.push(a);
    }
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const mode = args._[0];
const port = Number(args.port);
const keys = (args.keys || '').split(',').filter((k) => k.length > 0);
const market = args.market || 'sha';
const maxPrice = Number(args['max-price'] || 100);
const deadlineMs = Number(args['deadline-ms'] || 120000);
const fixedInputs = args.inputs ? JSON.parse(args.inputs) : null;
if (!Number.isInteger(port) || port <= 0) {
  console.error('chaos_client: --port is required');
  process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One request to 127.0.0.1: resolves {status, body} or {status: 0, error}; never rejects.
function request(method, path, key, body, timeoutMs = 10000) {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v) => {
      if (!done) {
        done = true;
        resolve(v);
      }
    };
    const headers = { Authorization: `Bearer ${key}` };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request(
      { host: '127.0.0.1', port, method, path, headers, agent, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          finish({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', (e) => finish({ status: 0, error: e.code || e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => finish({ status: 0, error: e.code || e.message }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function orderBody(coid) {
  const inputs = fixedInputs || {
    sha256: crypto.createHash('sha256').update(coid).digest('hex'),
    preimage: coid,
  };
  return JSON.stringify({
    market,
    max_price: maxPrice,
    deadline_ms: deadlineMs,
    inputs,
    client_order_id: coid,
  });
}

const retryable = (status) => status === 0 || status === 429 || status >= 500;

// Places (or replays) one order until it is answered with something other than a transport
// error, 429 or 5xx, or until giveUpMs passes. Resolves {status, id, attempts, body}.
async function placeUntilAnswered(key, coid, giveUpMs) {
  const body = orderBody(coid);
  const until = Date.now() + giveUpMs;
  let backoff = 50;
  for (let attempts = 1; ; attempts++) {
    const r = await request('POST', '/v1/orders', key, body);
    if (!retryable(r.status)) {
      let id = null;
      try {
        id = JSON.parse(r.body).order.id;
      } catch (e) {
        id = null;
      }
      return { status: r.status, id, attempts, body: r.body };
    }
    if (Date.now() >= until) return { status: r.status, id: null, attempts, body: r.error || r.body };
    await sleep(backoff / 2 + Math.random() * (backoff / 2));
    backoff = Math.min(1000, backoff * 2);
  }
}

async function sequence() {
  const workers = Number(args.workers || 2);
  const rate = Number(args.rate || 20);
  const ackFile = args.acks;
  const prefix = args.prefix || 'chaos';
  const stopFile = args['stop-file'];
  const giveUpMs = Number(args['give-up-s'] || 180) * 1000;
  const endAt = Date.now() + Number(args['max-s'] || 3600) * 1000;
  const total = workers * keys.length;
  // Each worker paces itself to its share of the rate (closed loop: never more than one order
  // of its own in flight).
  const interval = rate > 0 ? (1000 * total) / rate : 0;
  const ackFd = fs.openSync(ackFile, 'a');
  const tally = { placed: 0, created: 0, replayed: 0, refused: 0, gave_up: 0, retried: 0 };
  const stopping = () => (stopFile && fs.existsSync(stopFile)) || Date.now() >= endAt;

  async function worker(k, w) {
    let n = 0;
    let next = Date.now() + Math.random() * interval;
    while (!stopping()) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      next = Math.max(next + interval, Date.now() - interval);
      const coid = `${prefix}-${k}-${w}-${++n}`;
      const r = await placeUntilAnswered(keys[k], coid, giveUpMs);
      tally.placed++;
      if (r.attempts > 1) tally.retried++;
      if ((r.status === 201 || r.status === 200) && Number.isInteger(r.id)) {
        // One write(2) per line: a concurrent reader sees whole lines (or a cut last one, which
        // it drops).
        fs.writeSync(ackFd, `${coid}\t${r.id}\t${r.status}\t${k}\t${r.attempts}\n`);
        if (r.status === 201) tally.created++;
        else tally.replayed++;
        if (r.status === 200 && r.attempts === 1) {
          console.error(`chaos_client: ${coid} answered 200 (replayed) on its first attempt`);
        }
      } else if (retryable(r.status)) {
        tally.gave_up++;
        console.error(`chaos_client: gave up on ${coid} after ${r.attempts} attempts: ${r.body}`);
      } else {
        tally.refused++;
        console.error(`chaos_client: ${coid} refused: HTTP ${r.status} ${r.body}`);
      }
    }
  }

  const all = [];
  for (let k = 0; k < keys.length; k++) {
    for (let w = 0; w < workers; w++) all.push(worker(k, w));
  }
  await Promise.all(all);
  fs.closeSync(ackFd);
  console.log(JSON.stringify(tally));
}

// Whole ack lines: "coid id status key attempts".
function readAcks(file) {
  const text = fs.readFileSync(file, 'utf8');
  const acks = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length !== 5 || !/^\d+$/.test(f[1])) continue;
    acks.push({ coid: f[0], id: Number(f[1]), key: Number(f[3]) });
  }
  return acks;
}

// `n` of `items` drawn at random (all of them if there are no more).
function draw(items, n) {
  const copy = items.slice();
  const want = Math.min(n, copy.length);
  for (let i = 0; i < want; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, want);
}

async function replay() {
  const acks = readAcks(args.acks);
  const from = Math.min(Number(args['from-line'] || 0), acks.length);
  let chosen = acks.slice(from);
  if (args['max-new'] !== undefined) chosen = draw(chosen, Number(args['max-new']));
  if (args.sample !== undefined) {
    chosen = chosen.concat(draw(acks.slice(0, from), Number(args.sample)));
  } else {
    chosen = acks;
  }
  const tally = { replayed: 0, mismatched: 0, failed: 0, lines: acks.length };
  let next = 0;
  async function worker() {
    while (next < chosen.length) {
      const a = chosen[next++];
      const r = await placeUntilAnswered(keys[a.key], a.coid, 60000);
      tally.replayed++;
      if (r.status === 200 && r.id === a.id) continue;
      if (retryable(r.status)) {
        tally.failed++;
        console.error(`chaos_client: replay of ${a.coid} got no answer: ${r.body}`);
      } else {
        tally.mismatched++;
        console.error(
          `chaos_client: replay of ${a.coid} (order ${a.id}) answered HTTP ${r.status}: ${r.body}`,
        );
      }
    }
  }
  const concurrency = Number(args.concurrency || 8);
  await Promise.all(Array.from({ length: concurrency }, worker));
  console.log(JSON.stringify(tally));
}

async function balances() {
  for (const key of keys) {
    let r;
    for (let i = 0; i < 50; i++) {
      r = await request('GET', '/v1/accounts/me', key);
      if (r.status === 200) break;
      await sleep(100);
    }
    if (r.status !== 200) {
      console.error(`chaos_client: GET /v1/accounts/me answered ${r.status} ${r.body || r.error}`);
      process.exitCode = 1;
      continue;
    }
    const a = JSON.parse(r.body).account;
    console.log(`${a.id} ${a.available} ${a.escrowed} ${a.staked}`);
  }
}

const modes = { sequence, replay, balances };
if (!modes[mode]) {
  console.error('usage: chaos_client.js sequence|replay|balances --port P --keys K1,K2 ...');
  process.exit(2);
}
modes[mode]().then(
  () => agent.destroy(),
  (e) => {
    console.error(`chaos_client: ${e.stack || e}`);
    process.exit(1);
  },
);
