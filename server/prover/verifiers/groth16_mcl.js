// groth16_mcl.js — Groth16 (BN254, snarkjs's keys and proofs) checked with mcl-wasm, one proof
// at a time or many together (batch verification with random linear combinations).
//
// The single check is snarkjs's: e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) == 1
// with vk_x = IC[0] + sum_j s_j IC[j+1]. A batch of n proofs for one key draws random 128-bit
// scalars r_i from the CSPRNG and checks all of them with one final exponentiation:
//
//   prod_i e(r_i A_i, B_i) * e(-(sum r_i) alpha, beta) * e(-sum r_i vk_x_i, gamma)
//                          * e(-sum r_i C_i, delta) == 1
//
// where sum_i r_i vk_x_i = (sum r_i) IC[0] + sum_j (sum_i r_i s_ij) IC[j+1] is one multi-scalar
// multiplication over the key's IC points. If any proof is bad the product is 1 with
// probability at most 1/(2^128 - 1) per check (so at most 2n/(2^128 - 1) over a batch of n and
// its bisection, which re-uses the scalars). When a batch fails, the Miller loop of each proof is kept and
// the batch is split in halves (bisection), re-using them, so that exactly the bad proofs are
// rejected: a sub-batch then costs its fixed pairings and one final exponentiation. A left
// half that passes means the bad proofs are in the right half, which is not checked again; a
// failed set of SMALL_SET proofs or fewer is checked proof by proof.
//
// Points must be in their prime-order groups for the combination to be sound: G1 on BN254 has
// cofactor 1 (on the curve is enough); B is checked to be in G2. snarkjs checks only that B is
// on the curve: every B outside G2 is refused here, whatever snarkjs would say of it (its
// pairing is not bilinear there); the differential test's sampled such point is refused by
// both.
'use strict';

const crypto = require('crypto');

const DECIMAL = /^(0|[1-9][0-9]{0,79})$/;
// BN254's base field (q) and scalar field (r) moduli.
const Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;
const R = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
// BN254's parameter x (p and r are polynomials in it).
const X0 = 4965661367192848881n;
// A failed set this small is checked proof by proof rather than halved.
const SMALL_SET = 4;
// Pairs per millerLoopVec call, and points per mulVec call: mcl-wasm copies them onto its wasm
// stack (1 MiB; a key of thousands of public inputs would not fit in one call).
const MILLER_CHUNK = 16;
const MSM_CHUNK = 1024;

class ParseError extends Error {}

function fieldElement(v, modulus, what) {
  if (typeof v !== 'string' || !DECIMAL.test(v)) throw new ParseError(`${what}: not a decimal string`);
  if (BigInt(v) >= modulus) throw new ParseError(`${what}: not below the field modulus`);
  return v;
}

// snarkjs writes points projectively with z = 1 (["x","y","1"], G2: [[x0,x1],[y0,y1],["1","0"]]);
// only that form is taken, so one point has one encoding. Returns mcl's text form, "1 x y".
function g1Text(v, what) {
  if (!Array.isArray(v) || v.length !== 3 || v[2] !== '1') throw new ParseError(`${what}: not a G1 point`);
  return `1 ${fieldElement(v[0], Q, what)} ${fieldElement(v[1], Q, what)}`;
}

function g2Text(v, what) {
  if (!Array.isArray(v) || v.length !== 3 || !Array.isArray(v[2]) || v[2].length !== 2 ||
      v[2][0] !== '1' || v[2][1] !== '0') {
    throw new ParseError(`${what}: not a G2 point`);
  }
  const fq2 = (c, i) => {
    if (!Array.isArray(c) || c.length !== 2) throw new ParseError(`${what}: not a G2 point`);
    return `${fieldElement(c[0], Q, `${what}[${i}]`)} ${fieldElement(c[1], Q, `${what}[${i}]`)}`;
  };
  return `1 ${fq2(v[0], 0)} ${fq2(v[1], 1)}`;
}

function curveName(name) {
  return typeof name === 'string' && ['BN128', 'BN254', 'ALTBN128'].includes(
    (name.toUpperCase().match(/[A-Z0-9]+/g) || []).join(''));
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// xi^e in Fp2 = Fp[u]/(u^2 + 1), xi = 9 + u (the twist's non-residue), with BigInt: the
// constants of the endomorphism psi, computed once rather than copied in.
function xiPow(e) {
  const mul = ([a0, a1], [b0, b1]) => [((a0 * b0 - a1 * b1) % Q + Q) % Q, (a0 * b1 + a1 * b0) % Q];
  let out = [1n, 0n];
  let base = [9n, 1n];
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) out = mul(out, base);
    base = mul(base, base);
  }
  return out;
}

// Builds the verifier: mcl-wasm initialised for BN_SNARK1 (the curve snarkjs calls bn128).
async function createGroth16() {
  const mcl = require('mcl-wasm');
  const mclCore = require('mcl-wasm/dist/mcl');
  await mcl.init(mcl.BN_SNARK1);
  // Subgroup checks are made explicitly where they are needed (B), not on every parse.
  mcl.verifyOrderG1(false);
  mcl.verifyOrderG2(false);

  const stats = { checks: 0, failedChecks: 0, millerLoops: 0, finalExps: 0 };

  // G2 membership (El Housni, Guillevic, Piellard, "Co-factor clearing and subgroup membership
  // testing on pairing-friendly curves", 2022, sec. 5.1, as gnark-crypto's bn254 does it):
  // Q is in G2 iff [x+1]Q + psi([x]Q) + psi^2([x]Q) == psi^3([2x]Q), where psi(X, Y, Z) =
  // (conj(X) xi^((p-1)/3), conj(Y) xi^((p-1)/2), conj(Z)) (untwist-Frobenius-twist; a field
  // automorphism, so it applies to Jacobian coordinates as they are). One scalar multiplication
  // by the 63-bit x instead of mcl's isValidOrder (two by r): 0.32 ms instead of 0.76.
  const fp2 = ([a, b]) => { const f = new mcl.Fp2(); f.setStr(`${a} ${b}`, 10); return f; };
  const psiX = fp2(xiPow((Q - 1n) / 3n));
  const psiY = fp2(xiPow((Q - 1n) / 2n));
  const x0 = new mcl.Fr();
  x0.setStr(X0.toString(), 10);
  const conj = (f) => {
    const c = new mcl.Fp2();
    c.set_a(f.get_a());
    c.set_b(mcl.neg(f.get_b()));
    return c;
  };
  const psi = (P) => {
    const out = new mcl.G2();
    out.setX(mcl.mul(conj(P.getX()), psiX));
    out.setY(mcl.mul(conj(P.getY()), psiY));
    out.setZ(conj(P.getZ()));
    return out;
  };
  function inG2(P) {
    const xP = mcl.mul(P, x0);
    const psiXP = psi(xP);
    const lhs = mcl.add(mcl.add(mcl.add(xP, P), psiXP), psi(psiXP));
    return lhs.isEqual(psi(psi(psi(mcl.dbl(xP)))));
  }

  // A point from mcl's text form; null when it is not on the curve.
  function point(Type, text) {
    const p = new Type();
    try {
      p.setStr(text, 10);
    } catch (e) {
      return null;
    }
    return p.isValid() ? p : null;
  }

  // sum_i points[i] * scalars[i], in pieces that fit mcl's stack.
  function msm(points, scalars) {
    let out = null;
    for (let at = 0; at < points.length; at += MSM_CHUNK) {
      const part = mcl.mulVec(points.slice(at, at + MSM_CHUNK), scalars.slice(at, at + MSM_CHUNK));
      out = out === null ? part : mcl.add(out, part);
    }
    return out;
  }

  // prod_i millerLoop(Ps[i], Qs[i]) through mcl's multi-pairing Miller loop (shared squarings).
  function millerLoopVec(Ps, Qs) {
    let out = null;
    for (let at = 0; at < Ps.length; at += MILLER_CHUNK) {
      const n = Math.min(MILLER_CHUNK, Ps.length - at);
      const e = new mcl.GT();
      const stack = mclCore.stackSave();
      try {
        const ePos = mclCore.salloc(e.a_);
        const pPos = mclCore.sallocArray(Ps.slice(at, at + n).map((p) => p.a_));
        const qPos = mclCore.sallocArray(Qs.slice(at, at + n).map((q) => q.a_));
        mclCore.mod._mclBn_millerLoopVec(ePos, pPos, qPos, n);
        mclCore.copyFromHeap32(e.a_, ePos);
      } finally {
        mclCore.stackRestore(stack);
      }
      out = out === null ? e : mcl.mul(out, e);
    }
    stats.millerLoops += Ps.length;
    return out;
  }

  // The key's points, checked once: the right protocol and curve, IC of nPublic + 1 points,
  // every point on the curve and in its group. A bad key is the market's configuration, not
  // the prover's fault: loadVk throws Error(message).
  function loadVk(vk) {
    if (!isObject(vk)) throw new Error('not an object');
    if (vk.protocol !== 'groth16') throw new Error('protocol is not groth16');
    if (!curveName(vk.curve)) throw new Error('curve is not bn128');
    const nPublic = vk.nPublic;
    if (!Number.isSafeInteger(nPublic) || nPublic < 0 || nPublic > 100000) throw new Error('bad nPublic');
    if (!Array.isArray(vk.IC) || vk.IC.length !== nPublic + 1) throw new Error('IC must have nPublic + 1 points');
    const g1 = (v, what) => {
      const p = point(mcl.G1, g1Text(v, what));
      if (p === null) throw new Error(`${what}: not on the curve`);
      return p;
    };
    const g2 = (v, what) => {
      const p = point(mcl.G2, g2Text(v, what));
      if (p === null || !inG2(p)) throw new Error(`${what}: not on the curve or not in G2`);
      return p;
    };
    // Every point checked before any line is precomputed (those live outside the JS heap).
    const alpha = g1(vk.vk_alpha_1, 'vk_alpha_1');
    const g2s = ['vk_beta_2', 'vk_gamma_2', 'vk_delta_2'].map((k) => g2(vk[k], k));
    const IC = vk.IC.map((p, i) => g1(p, `IC[${i}]`));
    const [beta, gamma, delta] = g2s.map((q) => new mcl.PrecomputedG2(q));
    return {
      nPublic, alpha, beta, gamma, delta, IC,
      // mcl keeps the precomputed lines outside the JS heap: free them when the key is dropped.
      destroy() { beta.destroy(); gamma.destroy(); delta.destroy(); },
    };
  }

  // The order's public signals as scalars, or null when they are not nPublic canonical
  // decimals below r.
  function parsePublic(vk, pub) {
    if (!Array.isArray(pub) || pub.length !== vk.nPublic) return null;
    const out = [];
    for (let i = 0; i < pub.length; i++) {
      try {
        fieldElement(pub[i], R, `public[${i}]`);
      } catch (e) {
        return null;
      }
      const s = new mcl.Fr();
      s.setStr(pub[i], 10);
      out.push(s);
    }
    return out;
  }

  // A snarkjs proof object -> {A, B, C}, or {reason}: 'malformed_proof' for the wrong shape,
  // 'verification_failed' for a point off the curve or a B outside G2.
  function parseProof(p) {
    let texts;
    try {
      if (!isObject(p)) throw new ParseError('not an object');
      if (p.protocol !== undefined && p.protocol !== 'groth16') throw new ParseError('protocol');
      if (p.curve !== undefined && !curveName(p.curve)) throw new ParseError('curve');
      texts = [g1Text(p.pi_a, 'pi_a'), g2Text(p.pi_b, 'pi_b'), g1Text(p.pi_c, 'pi_c')];
    } catch (e) {
      if (e instanceof ParseError) return { reason: 'malformed_proof' };
      throw e;
    }
    const A = point(mcl.G1, texts[0]);
    const B = point(mcl.G2, texts[1]);
    const C = point(mcl.G1, texts[2]);
    if (A === null || B === null || C === null || !inG2(B)) return { reason: 'verification_failed' };
    return { A, B, C };
  }

  // Random nonzero 128-bit scalars, one per proof; a lone proof gets 1 (the plain check).
  function randomScalars(n) {
    const out = [];
    if (n === 1) {
      const one = new mcl.Fr();
      one.setInt(1);
      return [one];
    }
    const bytes = crypto.randomBytes(16 * n);
    for (let i = 0; i < n; i++) {
      const r = new mcl.Fr();
      r.setLittleEndian(bytes.subarray(16 * i, 16 * i + 16));
      while (r.isZero()) r.setLittleEndian(crypto.randomBytes(16));  // nonzero, still uniform
      out.push(r);
    }
    return out;
  }

  // The Miller loop of the three fixed pairs for the proofs `idx` (indices into items/rs):
  // e(-(sum r) alpha, beta) * e(-sum r vk_x, gamma) * e(-sum r C, delta).
  function fixedPairs(vk, items, rs, idx) {
    let rsum = new mcl.Fr();
    const coef = [];
    for (let j = 0; j <= vk.nPublic; j++) coef.push(new mcl.Fr());
    for (const i of idx) {
      rsum = mcl.add(rsum, rs[i]);
      for (let j = 0; j < vk.nPublic; j++) {
        coef[j + 1] = mcl.add(coef[j + 1], mcl.mul(rs[i], items[i].inputs[j]));
      }
    }
    coef[0] = rsum;
    const alphaR = mcl.neg(mcl.mul(vk.alpha, rsum));
    const X = mcl.neg(vk.nPublic === 0 ? mcl.mul(vk.IC[0], rsum) : msm(vk.IC, coef));
    const Cs = mcl.neg(idx.length === 1 ? mcl.mul(items[idx[0]].proof.C, rs[idx[0]])
                                        : msm(idx.map((i) => items[i].proof.C), idx.map((i) => rs[i])));
    stats.millerLoops += 3;
    return mcl.mul(mcl.precomputedMillerLoop2(alphaR, vk.beta, X, vk.gamma),
                   mcl.precomputedMillerLoop(Cs, vk.delta));
  }

  function isOne(millerValue) {
    stats.checks += 1;
    stats.finalExps += 1;
    const ok = mcl.finalExp(millerValue).isOne();
    if (!ok) stats.failedChecks += 1;
    return ok;
  }

  // items: [{proof: {A, B, C}, inputs: Fr[]}], all for `vk`. Returns one boolean per item:
  // true when that proof verifies.
  function verifyBatch(vk, items) {
    const n = items.length;
    if (n === 0) return [];
    const rs = randomScalars(n);
    const rA = items.map((it, i) => (n === 1 ? it.proof.A : mcl.mul(it.proof.A, rs[i])));
    const all = items.map((_, i) => i);
    const fixed = fixedPairs(vk, items, rs, all);
    if (isOne(mcl.mul(millerLoopVec(rA, items.map((it) => it.proof.B)), fixed))) {
      return items.map(() => true);
    }
    const ok = items.map(() => false);
    if (n === 1) return ok;
    // Bisection over each proof's own Miller loop, computed once.
    const f = items.map((it, i) => millerLoopVec([rA[i]], [it.proof.B]));
    const check = (idx) => {
      let e = fixedPairs(vk, items, rs, idx);
      for (const i of idx) e = mcl.mul(e, f[i]);
      return isOne(e);
    };
    // idx is known to hold at least one bad proof. Halves while it is large; a small set is
    // checked proof by proof (fewer checks than halving when most of it is bad), the last
    // one not at all when all the others pass.
    const split = (idx) => {
      if (idx.length <= SMALL_SET) {
        idx.forEach((i, k) => {
          const last = k === idx.length - 1 && idx.slice(0, k).every((j) => ok[j]);
          ok[i] = last ? false : check([i]);
        });
        return;
      }
      const left = idx.slice(0, idx.length >> 1);
      const right = idx.slice(idx.length >> 1);
      if (check(left)) {
        for (const i of left) ok[i] = true;
        split(right);  // the bad ones are all on the right
        return;
      }
      split(left);
      if (check(right)) {
        for (const i of right) ok[i] = true;
      } else {
        split(right);
      }
    };
    split(all);
    return ok;
  }

  return { loadVk, parsePublic, parseProof, verifyBatch, inG2, stats };
}

module.exports = { createGroth16, curveName, isObject };
