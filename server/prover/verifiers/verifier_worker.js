#!/usr/bin/env node
// verifier_worker.js — a long-lived proof verifier for the proofbook server (server/verifier_pool).
//
//   NODE_PATH=<repo>/var/node/node_modules node verifier_worker.js --kind snarkjs-groth16 [--max-batch N]
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
// Stop reading stdin while this many requests wait (the server sends at most a batch at a
// time; this only bounds memory against a client that does not).
const MAX_QUEUED = 512;
// Requests taken and verified together at most (answers go out once the whole batch is
// checked); --max-batch lowers it (1: every proof checked alone).
const MAX_BATCH = 128;
// A source (the prover, as the pool names it) whose proof failed the pairing check has its next
// SUSPECT_PROOFS proofs checked apart from everyone else's, in batches of at most SUSPECT_BATCH,
// or one by one while its last two or more failed: a flood of bad proofs then fails only its own
// small checks, not honest provers' large batches.
const SUSPECT_PROOFS = 32;
const SUSPECT_BATCH = 4;
const MAX_SUSPECTS = 10000;
// A key's id, as the pool names it (the sha256 hex of the key's JSON text).
const VK_ID = /^[0-9A-Za-z_-]{1,128}$/;
// The error for a vk_id this worker does not hold (never sent, or evicted): send the key again.
const UNKNOWN_VK = 'unknown vk_id';

// Test hook for the server's pool tests (a worker that is slow, or hangs past the pool's time
// limit): wait this many milliseconds before each answer. Unset in production.
const TEST_DELAY_MS = (() => {
  const v = process.env.PROOFBOOK_VERIFIER_TEST_DELAY_MS;
  return v && /^[0-9]{1,7}$/.test(v) ? Number(v) : 0;
})();

// Test hook for the pool's tests (a proof that kills its worker): exit 1 on reading a request
// whose proof is these bytes. Unset in production.
const TEST_CRASH_ON = process.env.PROOFBOOK_VERIFIER_TEST_CRASH_ON || null;

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

// --kind K [--max-batch N]; null when the command line is not that.
function parseArgs(argv) {
  const out = { kind: null, maxBatch: MAX_BATCH };
  for (let i = 0; i < argv.length; i++) {
    const [name, inline] = argv[i].startsWith('--') && argv[i].includes('=')
      ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)]
      : [argv[i], undefined];
    const value = inline !== undefined ? inline : argv[++i];
    if (value === undefined) return null;
    if (name === '--kind') {
      out.kind = value;
    } else if (name === '--max-batch' && /^[0-9]{1,3}$/.test(value) && Number(value) >= 1 &&
               Number(value) <= MAX_BATCH) {
      out.maxBatch = Number(value);
    } else {
      return null;
    }
  }
  return out.kind === null ? null : out;
}

// --- helpers --------------------------------------------------------------------------------

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
    prepare(req) {
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
    prepare(req) {
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

// snarkjs's keys and proofs, checked with mcl-wasm (groth16_mcl.js): each proof on its own
// (the pairing check snarkjs makes) or, when several proofs for one key are waiting, all of
// them together with one final exponentiation (batch verification, bisected when it fails).
function makeGroth16Verifier() {
  const { createGroth16 } = require('./groth16_mcl');
  let g16 = null;
  const ready = createGroth16().then((v) => { g16 = v; });
  // vk id -> {vk} or {error}; oldest first. The id is the pool's (the sha256 of the key's
  // JSON text, so that the key need not be sent again), else the sha256 of the key's JSON
  // re-serialised here.
  const cache = new Map();
  let evicted = [];  // keys dropped from the cache, freed once the batch in hand is done

  function cachedVk(req) {
    const id = req.vk_id;
    if (id !== undefined && (typeof id !== 'string' || !VK_ID.test(id))) {
      throw new RequestError('vk_id must be 1-128 characters of [0-9A-Za-z_-]');
    }
    if (req.vk === undefined || req.vk === null) {
      if (id === undefined) throw new RequestError('vk is required for snarkjs-groth16');
      const entry = cache.get(id);
      if (!entry) throw new RequestError(UNKNOWN_VK);
      cache.delete(id);  // most recently used last
      cache.set(id, entry);
      if (entry.error) throw new RequestError(entry.error);
      return entry.vk;
    }
    const key = id !== undefined ? id : crypto.createHash('sha256').update(JSON.stringify(req.vk)).digest('hex');
    let entry = cache.get(key);
    if (entry) {
      cache.delete(key);
    } else {
      try {
        entry = { vk: g16.loadVk(req.vk) };
        log(`vk ${key.slice(0, 12)} loaded (nPublic=${entry.vk.nPublic})`);
      } catch (e) {
        entry = { error: `bad verification key: ${e.message}` };
        log(`vk ${key.slice(0, 12)} rejected: ${e.message}`);
      }
      if (cache.size >= VK_CACHE_SIZE) {
        const oldest = cache.keys().next().value;
        if (cache.get(oldest).vk) evicted.push(cache.get(oldest).vk);
        cache.delete(oldest);
      }
    }
    cache.set(key, entry);
    if (entry.error) throw new RequestError(entry.error);
    return entry.vk;
  }

  return {
    ready,
    // Everything but the pairing check; returns the proof to check with its key.
    prepare(req) {
      const vk = cachedVk(req);
      const bytes = decodeProof(req.proof);
      // Public inputs first: when they are bad no proof can be valid, and the prover is not
      // to blame. The public signals, or {"public": [...], "witness": {...}} where the order
      // also carries the witness for the prover; the verifier reads only "public".
      const pub = isObject(req.public) && Array.isArray(req.public.public) ? req.public.public
                                                                          : req.public;
      const inputs = g16.parsePublic(vk, pub);
      if (inputs === null) throw new Invalid('bad_public_inputs');
      if (bytes.length > MAX_GROTH16_PROOF) throw new Invalid('malformed_proof');
      let obj;
      try {
        obj = JSON.parse(new util.TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch (e) {
        throw new Invalid('malformed_proof');
      }
      const proof = g16.parseProof(obj);
      if (proof.reason) throw new Invalid(proof.reason);
      return { group: vk, item: { proof, inputs } };
    },
    verifyBatch(vk, items) { return g16.verifyBatch(vk, items); },
    endBatch() {
      for (const vk of evicted) vk.destroy();
      evicted = [];
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
  const args = parseArgs(process.argv.slice(2));
  const kind = args && args.kind;
  let verifier;
  try {
    if (kind === 'sha256-preimage') verifier = makeSha256Verifier();
    else if (kind === 'sha256-merge') verifier = makeSha256MergeVerifier();
    else if (kind === 'snarkjs-groth16') verifier = makeGroth16Verifier();
    else {
      log('usage: verifier_worker.js --kind snarkjs-groth16|sha256-preimage|sha256-merge [--max-batch 1-128]');
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

  // The request in `body`, checked as far as it can be alone: {reply} when that settles it,
  // else {id, group, item}: a proof waiting for the pairing check with the others of its key.
  function prepare(body) {
    let req;
    try {
      req = JSON.parse(new util.TextDecoder('utf-8', { fatal: true }).decode(body));
    } catch (e) {
      return { reply: { id: null, error: 'request is not UTF-8 JSON' } };
    }
    if (!isObject(req)) return { reply: { id: null, error: 'request is not a JSON object' } };
    if (!Number.isSafeInteger(req.id) || req.id < 0) {
      return { reply: { id: null, error: 'request id must be an integer in [0, 2^53)' } };
    }
    const id = req.id;
    if (TEST_CRASH_ON !== null && typeof req.proof === 'string' &&
        Buffer.from(req.proof, 'base64').toString('utf8') === TEST_CRASH_ON) {
      log(`request ${id}: test hook PROOFBOOK_VERIFIER_TEST_CRASH_ON: exiting`);
      process.exit(EXIT_INTERNAL);
    }
    const source = Number.isSafeInteger(req.source) && req.source > 0 ? req.source : null;
    try {
      const pending = verifier.prepare(req);
      return pending ? { id, source, ...pending } : { source, reply: { id, verdict: 'valid' } };
    } catch (e) {
      return { source, reply: failure(id, e) };
    }
  }

  function failure(id, e) {
    if (e instanceof Invalid) return { id, verdict: 'invalid', reason: e.message };
    if (e instanceof RequestError) {
      return e.message === UNKNOWN_VK ? { id, error: e.message, unknown_vk: true } : { id, error: e.message };
    }
    log(`request ${id}: internal error: ${e && e.stack ? e.stack.split('\n', 2).join(' ') : e}`);
    return { id, error: `internal error: ${e && e.message}` };
  }

  // source -> {left: proofs still to check apart, failed: proofs failed in a row}; oldest first
  const suspects = new Map();

  // Answers for `items` ({body} or {reply}), in their order: the proofs of one key that are
  // waiting together are checked together, those of suspect sources in small batches apart.
  function answerAll(items) {
    const prepared = items.map((it) => (it.reply ? { reply: it.reply } : prepare(it.body)));
    const groups = new Map();  // key -> {trusted, suspect, alone: [indices]}
    prepared.forEach((p, i) => {
      if (p.reply) return;
      if (!groups.has(p.group)) groups.set(p.group, { trusted: [], suspect: [], alone: [] });
      const suspect = suspects.get(p.source);
      groups.get(p.group)[!suspect ? 'trusted' : suspect.failed >= 2 ? 'alone' : 'suspect'].push(i);
    });
    const batches = [];
    for (const [group, { trusted, suspect, alone }] of groups) {
      if (trusted.length > 0) batches.push([group, trusted]);
      for (let at = 0; at < suspect.length; at += SUSPECT_BATCH) {
        batches.push([group, suspect.slice(at, at + SUSPECT_BATCH)]);
      }
      for (const i of alone) batches.push([group, [i]]);
    }
    for (const [group, idx] of batches) {
      try {
        const ok = verifier.verifyBatch(group, idx.map((i) => prepared[i].item));
        idx.forEach((i, k) => {
          const { id } = prepared[i];
          prepared[i].reply = ok[k] ? { id, verdict: 'valid', batch: idx.length }
                                    : { id, verdict: 'invalid', reason: 'verification_failed', batch: idx.length };
        });
      } catch (e) {
        for (const i of idx) prepared[i].reply = failure(prepared[i].id, e);
      }
    }
    if (verifier.endBatch) verifier.endBatch();
    // A source whose proof failed (the pairing check, or a point off the curve or outside G2)
    // is suspect for its next SUSPECT_PROOFS proofs.
    for (const { source, reply } of prepared) {
      if (source === null) continue;
      const suspect = suspects.get(source);
      if (reply.reason === 'verification_failed') {
        suspects.delete(source);
        suspects.set(source, { left: SUSPECT_PROOFS, failed: suspect ? suspect.failed + 1 : 1 });
        if (suspects.size > MAX_SUSPECTS) suspects.delete(suspects.keys().next().value);
      } else if (reply.verdict === 'valid' && suspect) {
        suspect.failed = 0;
        if (--suspect.left === 0) suspects.delete(source);
      }
    }
    return prepared.map((p) => p.reply);
  }

  async function drain() {
    busy = true;
    try {
      await verifier.ready;
    } catch (e) {
      return;  // the ready handler above exits
    }
    while (queue.length > 0) {
      // Let stdin's callbacks run first: what has arrived meanwhile joins this batch.
      await new Promise((resolve) => setImmediate(resolve));
      const items = queue.splice(0, args.maxBatch);
      if (paused && ending === null && queue.length < MAX_QUEUED / 4) {
        paused = false;
        process.stdin.resume();
      }
      let replies;
      try {
        replies = answerAll(items);
      } catch (e) {  // never expected: every request gets an error rather than no answer
        log(`internal error: ${e && e.stack ? e.stack.split('\n', 2).join(' ') : e}`);
        replies = items.map(() => ({ id: null, error: `internal error: ${e && e.message}` }));
      }
      for (const r of replies) {
        let reply;
        try {
          reply = frame(r);
        } catch (e) {  // e.g. an answer that cannot be serialised: never expected
          reply = frame({ id: null, error: `internal error: ${e && e.message}` });
        }
        if (TEST_DELAY_MS > 0) await new Promise((resolve) => setTimeout(resolve, TEST_DELAY_MS));
        if (!process.stdout.write(reply)) {
          await new Promise((resolve) => process.stdout.once('drain', resolve));
        }
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
