#!/usr/bin/env node
// verifier_worker.js — a long-lived proof verifier for the proofbook server (server/verifier_pool).
//
//   NODE_PATH=<repo>/var/node/node_modules node verifier_worker.js --kind snarkjs-groth16
//   node verifier_worker.js --kind sha256-preimage
//   node verifier_worker.js --kind sha256-merge
//
// One kind per process. Requests come on stdin and answers go to stdout, one per request and in
// order, each framed as a 4-byte big-endian length and that many bytes of UTF-8 JSON (shapes,
// reasons and exit codes: README.md beside this file). stdout carries frames only: logs, and
// anything a library prints, go to stderr. The worker exits 0 at stdin EOF once every request
// read so far is answered, and 2 after a frame longer than 64 MiB (the server then starts a
// new one). No input makes it crash: a request it cannot use gets an `error` answer.
'use strict';

const crypto = require('crypto');
const path = require('path');
const { performance } = require('perf_hooks');
const util = require('util');

const MAX_FRAME = 64 * 1024 * 1024;
// A snarkjs Groth16 proof is under 1 kB of JSON; anything far larger is not one, and not
// worth parsing.
const MAX_GROTH16_PROOF = 64 * 1024;
const VK_CACHE_SIZE = 64;
// Stop reading stdin while this many requests wait (the server sends one at a time; this only
// bounds memory against a client that does not).
const MAX_QUEUED = 64;

// Test hook for the server's pool tests (a worker that is slow, or hangs past the pool's time
// limit): wait this many milliseconds before each answer. Unset in production.
const TEST_DELAY_MS = (() => {
  const v = process.env.PROOFBOOK_VERIFIER_TEST_DELAY_MS;
  return v && /^[0-9]{1,7}$/.test(v) ? Number(v) : 0;
})();

const EXIT_EOF = 0;
const EXIT_INTERNAL = 1;
const EXIT_FRAME_TOO_LONG = 2;
const EXIT_USAGE = 64;

// --- logging: stderr only, one short line per event -----------------------------------------

function log(...args) {
  const line = util.format(...args).replace(/\n/g, ' | ');
  process.stderr.write(`verifier_worker[${process.pid}] ${line}\n`);
}

// A library writing to stdout would corrupt the framing; send console output to stderr.
for (const name of ['log', 'info', 'warn', 'error', 'debug', 'trace']) {
  console[name] = log;
}

// --- command line ---------------------------------------------------------------------------

function parseKind(argv) {
  let kind = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--kind' && i + 1 < argv.length) kind = argv[++i];
    else if (a.startsWith('--kind=')) kind = a.slice('--kind='.length);
    else return null;
  }
  return kind;
}

// --- helpers --------------------------------------------------------------------------------

const DECIMAL = /^(0|[1-9][0-9]{0,79})$/;          // canonical, and short enough to bother
const SHA256_HEX = /^[0-9a-f]{64}$/;

class Invalid extends Error {}       // -> {"verdict":"invalid","reason":message}
class RequestError extends Error {}  // -> {"error":message}: no verdict could be had

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// The decoded proof bytes; a request whose proof is not base64 is the server's mistake, not
// the prover's, so it is an error rather than an invalid proof.
function decodeProof(proof) {
  if (typeof proof !== 'string') throw new RequestError('proof must be a base64 string');
  // Buffer.from skips what is not base64; the round trip makes it strict (and canonical:
  // padded, no stray bits). A regular expression would overflow the stack on large proofs.
  const bytes = Buffer.from(proof, 'base64');
  if (bytes.toString('base64') !== proof) throw new RequestError('proof is not base64');
  return bytes;
}

// --- sha256-preimage --------------------------------------------------------------------------

function makeSha256Verifier() {
  return {
    ready: Promise.resolve(),
    async verify(req) {
      const bytes = decodeProof(req.proof);
      // {"sha256": hex}, optionally with the demo's "preimage" hint for the prover (which the
      // verifier ignores: only the delivered bytes count).
      const pub = req.public;
      const keys = isObject(pub) ? Object.keys(pub) : [];
      if (!isObject(pub) || typeof pub.sha256 !== 'string' || !SHA256_HEX.test(pub.sha256) ||
          keys.some((k) => k !== 'sha256' && k !== 'preimage') ||
          (pub.preimage !== undefined && typeof pub.preimage !== 'string')) {
        throw new Invalid('bad_public_inputs');
      }
      const digest = crypto.createHash('sha256').update(bytes).digest();
      if (!crypto.timingSafeEqual(digest, Buffer.from(pub.sha256, 'hex'))) {
        throw new Invalid('verification_failed');
      }
    },
  };
}

// --- sha256-merge -----------------------------------------------------------------------------

// A proof tree's merge (README "Prove a block as a tree"): the order's inputs are its two
// children's digests, {"left": hex, "right": hex}, and the proof is the 32 bytes of
// SHA-256(left || right) over the decoded digests: the parent's digest. It proves the prover
// computed that parent; no zero knowledge, no recursion.
function makeSha256MergeVerifier() {
  return {
    ready: Promise.resolve(),
    async verify(req) {
      const bytes = decodeProof(req.proof);
      const pub = req.public;
      const keys = isObject(pub) ? Object.keys(pub) : [];
      if (!isObject(pub) || keys.length !== 2 || typeof pub.left !== 'string' ||
          typeof pub.right !== 'string' || !SHA256_HEX.test(pub.left) ||
          !SHA256_HEX.test(pub.right)) {
        throw new Invalid('bad_public_inputs');
      }
      const parent = crypto.createHash('sha256')
                         .update(Buffer.from(pub.left, 'hex'))
                         .update(Buffer.from(pub.right, 'hex'))
                         .digest();
      if (bytes.length !== parent.length || !crypto.timingSafeEqual(bytes, parent)) {
        throw new Invalid('verification_failed');
      }
    },
  };
}

// --- snarkjs-groth16 (BN254) ------------------------------------------------------------------

// Builds the curve once, single-threaded. snarkjs.groth16.verify asks ffjavascript for the
// curve by name on every call, and ffjavascript hands back whatever globalThis.curve_bn128
// holds, else builds a multi-threaded one (one worker thread per core, which keep the process
// alive and compete with the server for CPU). So the single-threaded curve is put there before
// the first verification, and checked to still be there after each.
function makeGroth16Verifier() {
  const snarkjs = require('snarkjs');
  // The ffjavascript that snarkjs itself loads (there may be several copies in node_modules).
  const ffjavascript = require(require.resolve('ffjavascript', {
    paths: [path.dirname(require.resolve('snarkjs'))],
  }));
  let curve = null;
  const cache = new Map();  // sha256 of the vk's JSON text -> {vk} or {error}; oldest first

  const ready = (async () => {
    curve = await ffjavascript.buildBn128(true);
    globalThis.curve_bn128 = curve;
  })();

  const q = () => curve.q;  // base field modulus
  const r = () => curve.r;  // scalar field modulus

  function fieldElement(v, modulus, what) {
    if (typeof v !== 'string' || !DECIMAL.test(v)) throw new Error(`${what}: not a decimal string`);
    const n = BigInt(v);
    if (n >= modulus) throw new Error(`${what}: not below the field modulus`);
    return n;
  }
  // snarkjs writes points projectively with z = 1 (["x","y","1"], G2: [[x0,x1],[y0,y1],["1","0"]]);
  // only that form is taken, so one point has one encoding.
  function g1(v, what) {
    if (!Array.isArray(v) || v.length !== 3 || v[2] !== '1') throw new Error(`${what}: not a G1 point`);
    return [fieldElement(v[0], q(), what), fieldElement(v[1], q(), what), 1n];
  }
  function g2(v, what) {
    if (!Array.isArray(v) || v.length !== 3 || !Array.isArray(v[2]) || v[2].length !== 2 ||
        v[2][0] !== '1' || v[2][1] !== '0') {
      throw new Error(`${what}: not a G2 point`);
    }
    const fq2 = (c, i) => {
      if (!Array.isArray(c) || c.length !== 2) throw new Error(`${what}: not a G2 point`);
      return [fieldElement(c[0], q(), `${what}[${i}]`), fieldElement(c[1], q(), `${what}[${i}]`)];
    };
    return [fq2(v[0], 0), fq2(v[1], 1), [1n, 0n]];
  }
  const onCurve1 = (p) => curve.G1.isValid(curve.G1.fromObject(p));
  const onCurve2 = (p) => curve.G2.isValid(curve.G2.fromObject(p));

  function curveName(name) {
    return typeof name === 'string' && ['BN128', 'BN254', 'ALTBN128'].includes(
      (name.toUpperCase().match(/[A-Z0-9]+/g) || []).join(''));
  }

  // The vk as snarkjs wants it (numbers as BigInt), checked once: the right protocol and
  // curve, IC of nPublic + 1 points, every point on the curve. A bad vk is the market's
  // configuration, not the prover's fault: an error, never an invalid verdict.
  function loadVk(vk) {
    if (!isObject(vk)) throw new Error('not an object');
    if (vk.protocol !== 'groth16') throw new Error('protocol is not groth16');
    if (!curveName(vk.curve)) throw new Error('curve is not bn128');
    const nPublic = vk.nPublic;
    if (!Number.isSafeInteger(nPublic) || nPublic < 0 || nPublic > 100000) throw new Error('bad nPublic');
    if (!Array.isArray(vk.IC) || vk.IC.length !== nPublic + 1) throw new Error('IC must have nPublic + 1 points');
    const out = {
      protocol: 'groth16',
      curve: vk.curve,
      nPublic,
      vk_alpha_1: g1(vk.vk_alpha_1, 'vk_alpha_1'),
      vk_beta_2: g2(vk.vk_beta_2, 'vk_beta_2'),
      vk_gamma_2: g2(vk.vk_gamma_2, 'vk_gamma_2'),
      vk_delta_2: g2(vk.vk_delta_2, 'vk_delta_2'),
      IC: vk.IC.map((p, i) => g1(p, `IC[${i}]`)),
    };
    for (const k of ['vk_alpha_1', ...out.IC.map((_, i) => i)]) {
      const p = typeof k === 'number' ? out.IC[k] : out[k];
      if (!onCurve1(p)) throw new Error(`${typeof k === 'number' ? `IC[${k}]` : k}: not on the curve`);
    }
    for (const k of ['vk_beta_2', 'vk_gamma_2', 'vk_delta_2']) {
      if (!onCurve2(out[k])) throw new Error(`${k}: not on the curve`);
    }
    return out;
  }

  function cachedVk(vk) {
    if (vk === undefined || vk === null) throw new RequestError('vk is required for snarkjs-groth16');
    const key = crypto.createHash('sha256').update(JSON.stringify(vk)).digest('hex');
    let entry = cache.get(key);
    if (entry) {
      cache.delete(key);  // most recently used last
    } else {
      try {
        entry = { vk: loadVk(vk) };
        log(`vk ${key.slice(0, 12)} loaded (nPublic=${entry.vk.nPublic})`);
      } catch (e) {
        entry = { error: `bad verification key: ${e.message}` };
        log(`vk ${key.slice(0, 12)} rejected: ${e.message}`);
      }
      if (cache.size >= VK_CACHE_SIZE) cache.delete(cache.keys().next().value);
    }
    cache.set(key, entry);
    if (entry.error) throw new RequestError(entry.error);
    return entry.vk;
  }

  function parseProof(bytes) {
    if (bytes.length > MAX_GROTH16_PROOF) throw new Invalid('malformed_proof');
    let p;
    try {
      p = JSON.parse(new util.TextDecoder('utf-8', { fatal: true }).decode(bytes));
      if (!isObject(p)) throw new Error('not an object');
      if (p.protocol !== undefined && p.protocol !== 'groth16') throw new Error('protocol');
      if (p.curve !== undefined && !curveName(p.curve)) throw new Error('curve');
      return {
        pi_a: g1(p.pi_a, 'pi_a'),
        pi_b: g2(p.pi_b, 'pi_b'),
        pi_c: g1(p.pi_c, 'pi_c'),
        protocol: 'groth16',
        curve: 'bn128',
      };
    } catch (e) {
      throw new Invalid('malformed_proof');
    }
  }

  function parsePublic(pub, nPublic) {
    if (!Array.isArray(pub) || pub.length !== nPublic) throw new Invalid('bad_public_inputs');
    try {
      return pub.map((s, i) => fieldElement(s, r(), `public[${i}]`));
    } catch (e) {
      throw new Invalid('bad_public_inputs');
    }
  }

  let warnedCurve = false;
  return {
    ready,
    async verify(req) {
      const vk = cachedVk(req.vk);
      const bytes = decodeProof(req.proof);
      // Public inputs first: when they are bad no proof can be valid, and the prover is not
      // to blame.
      // The public signals, or {"public": [...], "witness": {...}} where the order also
      // carries the witness for the prover; the verifier reads only "public".
      const pub = isObject(req.public) && Array.isArray(req.public.public) ? req.public.public
                                                                          : req.public;
      const signals = parsePublic(pub, vk.nPublic);
      const proof = parseProof(bytes);
      const ok = await snarkjs.groth16.verify(vk, signals, proof);
      if (globalThis.curve_bn128 !== curve) {
        if (!warnedCurve) log('snarkjs replaced the single-threaded curve; putting it back');
        warnedCurve = true;
        globalThis.curve_bn128 = curve;
      }
      if (ok !== true) throw new Invalid('verification_failed');
    },
  };
}

// --- framing --------------------------------------------------------------------------------

// Bytes read from stdin, kept as the chunks they came in (no copying until a frame is whole).
class Chunks {
  constructor() { this.list = []; this.length = 0; }
  push(chunk) { this.list.push(chunk); this.length += chunk.length; }
  take(n) {  // n <= this.length
    const first = this.list[0];
    if (n === 0) return Buffer.alloc(0);
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.list.shift(); else this.list[0] = first.subarray(n);
      this.length -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.list[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.list.shift(); else this.list[0] = c.subarray(k);
    }
    this.length -= n;
    return out;
  }
}

function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

// --- main loop --------------------------------------------------------------------------------

function main() {
  const kind = parseKind(process.argv.slice(2));
  let verifier;
  try {
    if (kind === 'sha256-preimage') verifier = makeSha256Verifier();
    else if (kind === 'sha256-merge') verifier = makeSha256MergeVerifier();
    else if (kind === 'snarkjs-groth16') verifier = makeGroth16Verifier();
    else {
      log('usage: verifier_worker.js --kind snarkjs-groth16|sha256-preimage|sha256-merge');
      process.exit(EXIT_USAGE);
    }
  } catch (e) {
    log(`cannot start ${kind}: ${e.message} (NODE_PATH=${process.env.NODE_PATH || ''})`);
    process.exit(EXIT_INTERNAL);
  }
  verifier.ready.then(
    () => log(`ready kind=${kind} ${Math.round(performance.now())} ms after start` +
              (TEST_DELAY_MS > 0 ? ` (test delay: ${TEST_DELAY_MS} ms before each answer)` : '')),
    (e) => { log(`cannot start ${kind}: ${e.message}`); process.exit(EXIT_INTERNAL); });

  const input = new Chunks();
  let want = -1;          // length of the frame being read; -1 while reading its header
  const queue = [];       // {body} of requests not answered yet, or a {reply} made already
  let busy = false;
  let ending = null;      // exit status once the queue is empty, when input has ended
  let paused = false;

  process.stdout.on('error', (e) => {
    log(`stdout: ${e.code || e.message}; exiting`);
    process.exit(EXIT_INTERNAL);
  });

  function finish(status) {
    ending = status;
    if (!busy) process.stdout.write('', () => process.exit(status));
  }

  async function answer(body) {
    let req;
    try {
      req = JSON.parse(new util.TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (e) {
      return { id: null, error: 'request is not UTF-8 JSON' };
    }
    if (!isObject(req)) return { id: null, error: 'request is not a JSON object' };
    if (!Number.isSafeInteger(req.id) || req.id < 0) {
      return { id: null, error: 'request id must be an integer in [0, 2^53)' };
    }
    const id = req.id;
    try {
      await verifier.ready;
      await verifier.verify(req);
      return { id, verdict: 'valid' };
    } catch (e) {
      if (e instanceof Invalid) return { id, verdict: 'invalid', reason: e.message };
      if (e instanceof RequestError) return { id, error: e.message };
      log(`request ${id}: internal error: ${e && e.stack ? e.stack.split('\n', 2).join(' ') : e}`);
      return { id, error: `internal error: ${e && e.message}` };
    }
  }

  async function drain() {
    busy = true;
    while (queue.length > 0) {
      const item = queue.shift();
      if (paused && ending === null && queue.length < MAX_QUEUED / 4) {
        paused = false;
        process.stdin.resume();
      }
      let reply;
      try {
        reply = frame(item.reply || await answer(item.body));
      } catch (e) {  // e.g. an answer that cannot be serialised: never expected
        reply = frame({ id: null, error: `internal error: ${e && e.message}` });
      }
      if (TEST_DELAY_MS > 0) await new Promise((resolve) => setTimeout(resolve, TEST_DELAY_MS));
      if (!process.stdout.write(reply)) {
        await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
    }
    busy = false;
    if (ending !== null) finish(ending);
  }

  function onData(chunk) {
    if (ending !== null) return;
    input.push(chunk);
    for (;;) {
      if (want < 0) {
        if (input.length < 4) break;
        want = input.take(4).readUInt32BE(0);
        if (want > MAX_FRAME) {
          // Nothing after this can be trusted to be a frame boundary. Answer what came
          // before, then say why, then go.
          log(`frame of ${want} bytes is over the ${MAX_FRAME}-byte limit; exiting`);
          process.stdin.pause();
          process.stdin.removeListener('data', onData);
          queue.push({ reply: { id: null, error: `frame of ${want} bytes is over the 64 MiB limit` } });
          ending = EXIT_FRAME_TOO_LONG;
          break;
        }
      }
      if (input.length < want) break;
      queue.push({ body: input.take(want) });
      want = -1;
    }
    if (!paused && queue.length >= MAX_QUEUED) { paused = true; process.stdin.pause(); }
    if (!busy && queue.length > 0) drain();
  }

  process.stdin.on('data', onData);
  process.stdin.on('end', () => {
    if (ending !== null) return;
    if (input.length > 0 || want >= 0) log(`stdin ended inside a frame (${input.length} bytes dropped)`);
    if (queue.length > 0 || busy) ending = EXIT_EOF; else finish(EXIT_EOF);
  });
  process.stdin.on('error', (e) => {
    log(`stdin: ${e.code || e.message}; exiting`);
    finish(EXIT_EOF);
  });
}

// Last resort: nothing above should throw outside a request, but if it does the server must
// see the process go (and replace it) rather than a worker that no longer answers.
process.on('uncaughtException', (e) => {
  log(`uncaught: ${e && e.stack ? e.stack.split('\n', 2).join(' ') : e}`);
  process.exit(EXIT_INTERNAL);
});
process.on('unhandledRejection', (e) => {
  log(`unhandled rejection: ${e && e.stack ? e.stack.split('\n', 2).join(' ') : e}`);
  process.exit(EXIT_INTERNAL);
});

main();
