#!/usr/bin/env node
// check_worker.js — drives verifier_worker.js over its framing protocol the way the server
// does, checks its verdicts, then measures one warm worker per kind.
//
//   ./proofbook.sh node-deps && tests/fixtures/groth16.sh
//   node server/prover/verifiers/check_worker.js [--fixtures DIR] [--seconds N]
//
// Needs the Groth16 fixtures (default var/fixtures/groth16). Starts the worker with
// NODE_PATH=<repo>/var/node/node_modules unless NODE_PATH is set. Prints one line per check,
// then "N passed, N failed", then the figures; exits 1 if any check failed.
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '../../..');
const WORKER = path.join(__dirname, 'verifier_worker.js');
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

function parseArgs(argv) {
  const args = { fixtures: path.join(ROOT, 'var/fixtures/groth16'), seconds: 3 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--fixtures') args.fixtures = path.resolve(argv[++i]);
    else if (argv[i] === '--seconds') args.seconds = Number(argv[++i]);
    else {
      console.error('usage: check_worker.js [--fixtures DIR] [--seconds N]');
      process.exit(2);
    }
  }
  return args;
}

const frame = (body) => {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(b.length, 0);
  return Buffer.concat([head, b]);
};
const b64 = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64');

// One worker process, spoken to as the server does. Answers come back in request order, so
// each reply settles the oldest pending promise.
class Worker {
  constructor(kind, extraArgs = []) {
    this.kind = kind;
    this.spawnedAt = process.hrtime.bigint();
    this.proc = spawn(process.argv[0], [WORKER, '--kind', kind, ...extraArgs], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NODE_PATH: process.env.NODE_PATH || path.join(ROOT, 'var/node/node_modules') },
    });
    this.pending = [];
    this.buf = Buffer.alloc(0);
    this.stderr = '';
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stdout.on('data', (chunk) => this.onData(chunk));
    this.proc.stderr.on('data', (chunk) => { this.stderr += chunk; });
    this.proc.stdin.on('error', () => {});  // the worker may go first (frame-too-long check)
  }
  onData(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (this.buf.length < 4 + n) break;
      const body = this.buf.subarray(4, 4 + n).toString('utf8');
      this.buf = this.buf.subarray(4 + n);
      const p = this.pending.shift();
      if (!p) throw new Error(`unexpected reply: ${body}`);
      p.resolve(JSON.parse(body));
    }
  }
  // Sends raw bytes and expects `replies` answers to them.
  sendRaw(bytes, replies = 1) {
    const promises = [];
    for (let i = 0; i < replies; i++) {
      promises.push(new Promise((resolve, reject) => this.pending.push({ resolve, reject })));
    }
    this.proc.stdin.write(bytes);
    return Promise.all(promises);
  }
  async request(obj) { return (await this.sendRaw(frame(obj)))[0]; }
  end() { this.proc.stdin.end(); return this.exited; }
  rssKb() {
    const m = fs.readFileSync(`/proc/${this.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) : NaN;
  }
  threads() { return fs.readdirSync(`/proc/${this.proc.pid}/task`).length; }
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms); }),
  ]);
}

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await withTimeout(Promise.resolve().then(fn), 30000, name);
    passed++;
    console.log(`ok    ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL  ${name}: ${e.message}`);
  }
}
function expect(reply, want) {
  // `batch` (how many Groth16 proofs were checked together) depends on timing; not compared.
  const strip = (r) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return r;
    const { batch, ...rest } = r;
    return rest;
  };
  const got = JSON.stringify(Array.isArray(reply) ? reply.map(strip) : strip(reply));
  if (got !== JSON.stringify(want)) throw new Error(`got ${got}, want ${JSON.stringify(want)}`);
}

let nextId = 1;
const invalid = (reason) => ({ verdict: 'invalid', reason });
async function expectVerdict(w, req, want) {
  const id = nextId++;
  expect(await w.request({ id, ...req }), { id, ...want });
}

// Sequential requests (one in flight, as the server's pool sends them) for `seconds`.
async function bench(w, makeRequest, seconds) {
  const lat = [];
  const until = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let now = start;
  while (now < until) {
    const t0 = process.hrtime.bigint();
    const reply = await w.request(makeRequest(nextId++));
    if (reply.verdict !== 'valid') throw new Error(`benchmark: ${JSON.stringify(reply)}`);
    now = process.hrtime.bigint();
    lat.push(Number(now - t0) / 1e6);
  }
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return {
    n: lat.length,
    perSecond: lat.length / (Number(now - start) / 1e9),
    p50: pct(0.5),
    p99: pct(0.99),
    min: lat[0],
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const fx = (f) => JSON.parse(fs.readFileSync(path.join(args.fixtures, f), 'utf8'));
  let vk;
  try {
    vk = fx('verification_key.json');
  } catch (e) {
    console.error(`no fixtures in ${args.fixtures}: run tests/fixtures/groth16.sh (${e.message})`);
    process.exit(2);
  }
  const cases = {};
  for (const c of ['valid', 'tampered', 'wrong_input']) {
    cases[c] = { proof: fx(`${c}/proof.json`), public: fx(`${c}/public.json`) };
  }
  const g16 = (c, extra = {}) => ({ vk, public: cases[c].public, proof: b64(cases[c].proof), ...extra });
  const figures = [];

  // --- snarkjs-groth16 --------------------------------------------------------------------
  const w = new Worker('snarkjs-groth16');
  let t0 = process.hrtime.bigint();
  const first = await withTimeout(w.request({ id: 0, ...g16('valid') }), 30000, 'first request');
  const coldMs = Number(process.hrtime.bigint() - t0) / 1e6;
  expect(first, { id: 0, verdict: 'valid' });
  const threadsWarm = w.threads();

  await check('groth16 valid -> valid', () => expectVerdict(w, g16('valid'), { verdict: 'valid' }));
  await check('groth16 tampered -> invalid verification_failed',
    () => expectVerdict(w, g16('tampered'), invalid('verification_failed')));
  await check('groth16 wrong_input -> invalid verification_failed',
    () => expectVerdict(w, g16('wrong_input'), invalid('verification_failed')));
  await check('groth16 garbage proof bytes -> invalid malformed_proof',
    () => expectVerdict(w, { ...g16('valid'), proof: b64('\x00\x01 not a proof') }, invalid('malformed_proof')));
  await check('groth16 empty proof -> invalid malformed_proof',
    () => expectVerdict(w, { ...g16('valid'), proof: '' }, invalid('malformed_proof')));
  await check('groth16 proof JSON of the wrong shape -> invalid malformed_proof', () => {
    const p = structuredClone(cases.valid.proof);
    p.pi_a = p.pi_a.slice(0, 2);
    return expectVerdict(w, { ...g16('valid'), proof: b64(p) }, invalid('malformed_proof'));
  });
  await check('groth16 coordinate >= q -> invalid malformed_proof', () => {
    const p = structuredClone(cases.valid.proof);
    p.pi_c[0] = (BigInt(p.pi_c[0]) + Q).toString();
    return expectVerdict(w, { ...g16('valid'), proof: b64(p) }, invalid('malformed_proof'));
  });
  await check('groth16 point off the curve -> invalid verification_failed', () => {
    const p = structuredClone(cases.valid.proof);
    p.pi_a[0] = ((BigInt(p.pi_a[0]) + 1n) % Q).toString();
    return expectVerdict(w, { ...g16('valid'), proof: b64(p) }, invalid('verification_failed'));
  });
  await check('groth16 public signal >= r -> invalid bad_public_inputs', () => expectVerdict(w,
    g16('valid', { public: [cases.valid.public[0], (BigInt(cases.valid.public[1]) + R).toString()] }),
    invalid('bad_public_inputs')));
  await check('groth16 too few public signals -> invalid bad_public_inputs',
    () => expectVerdict(w, g16('valid', { public: cases.valid.public.slice(1) }), invalid('bad_public_inputs')));
  await check('groth16 {public, witness} form -> valid (only public is read)',
    () => expectVerdict(w, g16('valid', { public: { public: cases.valid.public, witness: { x: '1' } } }),
      { verdict: 'valid' }));
  await check('groth16 public signals as numbers -> invalid bad_public_inputs',
    () => expectVerdict(w, g16('valid', { public: [1, 2] }), invalid('bad_public_inputs')));
  await check('groth16 bad public beats a malformed proof -> bad_public_inputs',
    () => expectVerdict(w, g16('valid', { public: {}, proof: b64('x') }), invalid('bad_public_inputs')));
  await check('groth16 no vk -> error', async () => {
    const r = await w.request({ id: 77, public: cases.valid.public, proof: b64(cases.valid.proof) });
    if (r.id !== 77 || typeof r.error !== 'string' || 'verdict' in r) throw new Error(JSON.stringify(r));
  });
  await check('groth16 vk with a point off the curve -> error', async () => {
    const bad = structuredClone(vk);
    bad.IC[1][1] = ((BigInt(bad.IC[1][1]) + 1n) % Q).toString();
    const r = await w.request({ id: 78, ...g16('valid', { vk: bad }) });
    if (r.id !== 78 || !/^bad verification key/.test(r.error)) throw new Error(JSON.stringify(r));
  });
  await check('groth16 proof not base64 -> error', async () => {
    const r = await w.request({ id: 79, ...g16('valid', { proof: '***' }) });
    if (r.id !== 79 || typeof r.error !== 'string') throw new Error(JSON.stringify(r));
  });
  await check('garbage frame -> error reply with id null, worker still answers', async () => {
    const [r] = await w.sendRaw(frame(Buffer.from('{"id": 5, "public": ')));
    expect(r, { id: null, error: 'request is not UTF-8 JSON' });
    await expectVerdict(w, g16('valid'), { verdict: 'valid' });
  });
  await check('requests without a usable id -> error with id null', async () => {
    const rs = await w.sendRaw(Buffer.concat([frame([1, 2]), frame({ id: 'x' }), frame({ id: -1 }),
      frame({ id: 2 ** 53 }), frame(Buffer.alloc(0))]), 5);
    for (const r of rs) if (r.id !== null || typeof r.error !== 'string') throw new Error(JSON.stringify(r));
  });
  await check('three frames in one write, answered in order', async () => {
    const ids = [nextId++, nextId++, nextId++];
    const rs = await w.sendRaw(Buffer.concat([
      frame({ id: ids[0], ...g16('valid') }), frame({ id: ids[1], ...g16('tampered') }),
      frame({ id: ids[2], ...g16('valid') })]), 3);
    expect(rs, [{ id: ids[0], verdict: 'valid' }, { id: ids[1], ...invalid('verification_failed') },
      { id: ids[2], verdict: 'valid' }]);
  });
  await check('a frame written a few bytes at a time', async () => {
    const id = nextId++;
    const bytes = frame({ id, ...g16('wrong_input') });
    const reply = w.sendRaw(Buffer.alloc(0));
    for (let i = 0; i < bytes.length; i += 3) {
      w.proc.stdin.write(bytes.subarray(i, i + 3));
      await new Promise((r) => setImmediate(r));
    }
    expect((await reply)[0], { id, ...invalid('verification_failed') });
  });

  // Warm figures.
  const one = [];
  for (let i = 0; i < 20; i++) {
    t0 = process.hrtime.bigint();
    await w.request({ id: nextId++, ...g16('valid') });
    one.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  one.sort((a, b) => a - b);
  const g = await bench(w, (id) => ({ id, ...g16('valid') }), args.seconds);
  const rssKb = w.rssKb();
  const threadsAfter = w.threads();
  await check('no threads started by verifying (single-threaded curve)', () => {
    if (threadsAfter > threadsWarm) throw new Error(`${threadsWarm} threads warm, ${threadsAfter} after`);
  });
  await check('stdin EOF -> exit 0', async () => {
    const t = process.hrtime.bigint();
    const { code, signal } = await w.end();
    figures.push(`groth16 worker exit after EOF: ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`);
    if (code !== 0) throw new Error(`exit ${code} ${signal || ''}`);
  });
  const ready = w.stderr.match(/ready kind=\S+ (\d+) ms after start/);
  figures.push(`groth16 worker: ready ${ready ? ready[1] : '?'} ms after start; first answer (start + curve + ` +
    `first verify) ${coldMs.toFixed(0)} ms after spawn; RSS ${(rssKb / 1024).toFixed(0)} MiB warm; ` +
    `${threadsAfter} threads`);
  figures.push(`groth16 single warm verify (request to answer, 20 runs): median ${one[10].toFixed(1)} ms, ` +
    `min ${one[0].toFixed(1)} ms`);
  figures.push(`snarkjs-groth16: ${g.perSecond.toFixed(1)} verifications/s (one worker, one in flight, ` +
    `${g.n} in ${args.seconds} s); p50 ${g.p50.toFixed(1)} ms, p99 ${g.p99.toFixed(1)} ms`);

  // --- sha256-preimage --------------------------------------------------------------------
  const s = new Worker('sha256-preimage');
  const pre = crypto.randomBytes(200);
  const hash = (b) => crypto.createHash('sha256').update(b).digest('hex');
  const sreq = { public: { sha256: hash(pre) }, proof: pre.toString('base64') };
  await check('sha256 preimage -> valid', () => expectVerdict(s, sreq, { verdict: 'valid' }));
  await check('sha256 wrong preimage -> invalid verification_failed',
    () => expectVerdict(s, { ...sreq, proof: b64('nope') }, invalid('verification_failed')));
  await check('sha256 empty preimage of the empty hash -> valid',
    () => expectVerdict(s, { public: { sha256: hash(Buffer.alloc(0)) }, proof: '' }, { verdict: 'valid' }));
  await check('sha256 upper-case hex -> invalid bad_public_inputs',
    () => expectVerdict(s, { ...sreq, public: { sha256: hash(pre).toUpperCase() } }, invalid('bad_public_inputs')));
  await check('sha256 with the demo preimage hint -> valid (the hint is not the proof)',
    () => expectVerdict(s, { ...sreq, public: { sha256: hash(pre), preimage: 'x' } }, { verdict: 'valid' }));
  await check('sha256 with another extra key -> invalid bad_public_inputs',
    () => expectVerdict(s, { ...sreq, public: { sha256: hash(pre), other: 'x' } }, invalid('bad_public_inputs')));
  await check('sha256 public not an object -> invalid bad_public_inputs',
    () => expectVerdict(s, { ...sreq, public: [hash(pre)] }, invalid('bad_public_inputs')));
  await check('sha256 garbage frame -> error, still alive', async () => {
    const [r] = await s.sendRaw(frame(Buffer.from([0xff, 0x00, 0x7b])));
    expect(r, { id: null, error: 'request is not UTF-8 JSON' });
    await expectVerdict(s, sreq, { verdict: 'valid' });
  });
  await check('sha256 16 MiB preimage (a frame of many reads) -> valid', async () => {
    const big = crypto.randomBytes(16 * 1024 * 1024);
    const t = process.hrtime.bigint();
    await expectVerdict(s, { public: { sha256: hash(big) }, proof: big.toString('base64') }, { verdict: 'valid' });
    figures.push(`sha256-preimage, 16 MiB preimage (22 MiB frame): ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(0)} ms`);
  });
  await check('sha256 500 frames in one write (reading pauses and resumes) -> all answered in order', async () => {
    const ids = Array.from({ length: 500 }, () => nextId++);
    const rs = await s.sendRaw(Buffer.concat(ids.map((id) => frame({ id, ...sreq }))), ids.length);
    expect(rs, ids.map((id) => ({ id, verdict: 'valid' })));
  });
  const sh = await bench(s, (id) => ({ id, ...sreq }), args.seconds);
  const srss = s.rssKb();
  await check('sha256 stdin EOF -> exit 0', async () => {
    const { code, signal } = await s.end();
    if (code !== 0) throw new Error(`exit ${code} ${signal || ''}`);
  });
  const sready = s.stderr.match(/ready kind=\S+ (\d+) ms after start/);
  figures.push(`sha256-preimage: ${sh.perSecond.toFixed(0)} verifications/s (one worker, one in flight, ` +
    `200-byte preimage); p50 ${sh.p50.toFixed(3)} ms, p99 ${sh.p99.toFixed(3)} ms; ` +
    `ready ${sready ? sready[1] : '?'} ms after start; RSS ${(srss / 1024).toFixed(0)} MiB`);

  // --- sha256-merge -------------------------------------------------------------------------
  const m = new Worker('sha256-merge');
  const left = hash(Buffer.from('left')), right = hash(Buffer.from('right'));
  const parent = crypto.createHash('sha256').update(Buffer.from(left, 'hex'))
                       .update(Buffer.from(right, 'hex')).digest();
  const mreq = { public: { left, right }, proof: parent.toString('base64') };
  await check('merge parent digest -> valid', () => expectVerdict(m, mreq, { verdict: 'valid' }));
  await check('merge children swapped -> invalid verification_failed',
    () => expectVerdict(m, { ...mreq, public: { left: right, right: left } }, invalid('verification_failed')));
  await check('merge digest as hex text, not bytes -> invalid verification_failed',
    () => expectVerdict(m, { ...mreq, proof: b64(parent.toString('hex')) }, invalid('verification_failed')));
  await check('merge of the hex text, not the digests -> invalid verification_failed', () => expectVerdict(m,
    { ...mreq, proof: crypto.createHash('sha256').update(left + right).digest().toString('base64') },
    invalid('verification_failed')));
  await check('merge one child missing -> invalid bad_public_inputs',
    () => expectVerdict(m, { ...mreq, public: { left } }, invalid('bad_public_inputs')));
  await check('merge an extra key -> invalid bad_public_inputs',
    () => expectVerdict(m, { ...mreq, public: { left, right, sha256: left } }, invalid('bad_public_inputs')));
  await check('merge upper-case hex -> invalid bad_public_inputs',
    () => expectVerdict(m, { ...mreq, public: { left: left.toUpperCase(), right } }, invalid('bad_public_inputs')));
  await check('merge stdin EOF -> exit 0', async () => {
    const { code, signal } = await m.end();
    if (code !== 0) throw new Error(`exit ${code} ${signal || ''}`);
  });

  // --- process-level behaviour ------------------------------------------------------------
  await check('frame over 64 MiB -> earlier requests answered, error reply, exit 2', async () => {
    const x = new Worker('sha256-preimage');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(64 * 1024 * 1024 + 1, 0);
    const rs = await x.sendRaw(Buffer.concat([frame({ id: 1, ...sreq }), head, Buffer.from('junk')]), 2);
    expect(rs[0], { id: 1, verdict: 'valid' });
    if (rs[1].id !== null || !/over the 64 MiB limit/.test(rs[1].error)) throw new Error(JSON.stringify(rs[1]));
    const { code } = await x.exited;
    if (code !== 2) throw new Error(`exit ${code}`);
  });
  await check('EOF with requests still queued -> all answered, then exit 0', async () => {
    const x = new Worker('snarkjs-groth16');
    const replies = x.sendRaw(Buffer.concat([1, 2, 3].map((id) => frame({ id, ...g16('valid') }))), 3);
    x.proc.stdin.end();
    const rs = await replies;
    expect(rs.map((r) => r.id), [1, 2, 3]);
    const { code } = await x.exited;
    if (code !== 0) throw new Error(`exit ${code}`);
  });
  await check('EOF inside a frame -> exit 0', async () => {
    const x = new Worker('sha256-preimage');
    x.proc.stdin.end(frame({ id: 1, ...sreq }).subarray(0, 10));
    const { code } = await x.exited;
    if (code !== 0) throw new Error(`exit ${code}`);
  });
  await check('unknown kind -> exit 64', async () => {
    const x = new Worker('plonk');
    const { code } = await x.exited;
    if (code !== 64) throw new Error(`exit ${code}`);
  });
  await check('--max-batch out of range -> exit 64', async () => {
    const x = new Worker('sha256-preimage', ['--max-batch', '0']);
    const { code } = await x.exited;
    if (code !== 64) throw new Error(`exit ${code}`);
  });

  console.log(`${passed} passed, ${failed} failed`);
  for (const f of figures) console.log(f);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`check_worker: ${e.stack || e}`);
  process.exit(1);
});
