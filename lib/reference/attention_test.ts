import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { assertGradient, dot, randomArray } from "./_grad_check.ts";
import { attentionBackward, type AttentionDims, attentionForward } from "./attention.ts";

/**
 * The textbook formulation, written independently: repeat kv heads per group, build the full
 * (T, TK) score matrix with −∞ above the causal diagonal, softmax each row, multiply by v.
 */
function naiveAttention(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  { t, h, kv, hd, offset }: AttentionDims,
): Float64Array {
  const tk = offset + t;
  const out = new Float64Array(t * h * hd);
  for (let head = 0; head < h; head++) {
    const g = Math.floor(head / (h / kv));
    for (let i = 0; i < t; i++) {
      const s = Array.from({ length: tk }, (_, j) => {
        if (j > offset + i) return -Infinity;
        let sum = 0;
        for (let d = 0; d < hd; d++) sum += q[(i * h + head) * hd + d] * k[(j * kv + g) * hd + d];
        return sum / Math.sqrt(hd);
      });
      const e = s.map((x) => Math.exp(x - Math.max(...s)));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < tk; j++) {
        for (let d = 0; d < hd; d++) {
          out[(i * h + head) * hd + d] += (e[j] / z) * v[(j * kv + g) * hd + d];
        }
      }
    }
  }
  return out;
}

Deno.test("attentionForward matches the textbook masked softmax with repeated kv heads", () => {
  const rng = new Rng(8);
  const dims = { t: 4, h: 6, kv: 2, hd: 5, offset: 3 };
  const tk = dims.offset + dims.t;
  const q = randomArray(rng, dims.t * dims.h * dims.hd); // (T, H·HD)
  const k = randomArray(rng, tk * dims.kv * dims.hd); // (TK, KV·HD)
  const v = randomArray(rng, tk * dims.kv * dims.hd); // (TK, KV·HD)
  const { out, probs } = attentionForward(q, k, v, dims);
  assertClose(out, naiveAttention(q, k, v, dims), { atol: 1e-12 });
  // Row (head 0, query 0) sees keys 0..3 only.
  assert.equal(probs[4] + probs[5] + probs[6], 0);
  assertClose([probs.subarray(0, 4).reduce((a, b) => a + b, 0)], [1], { atol: 1e-12 });
});

Deno.test("attention query heads h·KV/H..: heads 0,1 read kv head 0 and heads 2,3 kv head 1", () => {
  const dims = { t: 3, h: 4, kv: 2, hd: 2, offset: 0 };
  const rng = new Rng(9);
  const q = randomArray(rng, 3 * 4 * 2); // (T, H·HD)
  const k = randomArray(rng, 3 * 2 * 2); // (TK, KV·HD)
  const v = new Float64Array(3 * 2 * 2); // (TK, KV·HD): kv head 0 holds 1s, kv head 1 holds 7s
  for (let j = 0; j < 3; j++) v.set([1, 1, 7, 7], j * 4);
  const { out } = attentionForward(q, k, v, dims);
  for (let i = 0; i < 3; i++) {
    assertClose(out.subarray(i * 8, i * 8 + 8), [1, 1, 1, 1, 7, 7, 7, 7], { atol: 1e-12 });
  }
});

Deno.test("attention decode at an offset equals the last rows of the full prefill", () => {
  const rng = new Rng(10);
  const [total, h, kv, hd, offset] = [7, 4, 1, 3, 5];
  const q = randomArray(rng, total * h * hd); // (TOTAL, H·HD)
  const k = randomArray(rng, total * kv * hd); // (TOTAL, KV·HD)
  const v = randomArray(rng, total * kv * hd); // (TOTAL, KV·HD)
  const full = attentionForward(q, k, v, { t: total, h, kv, hd, offset: 0 }).out;
  const decode = attentionForward(q.slice(offset * h * hd), k, v, {
    t: total - offset,
    h,
    kv,
    hd,
    offset,
  }).out;
  assertClose(decode, full.subarray(offset * h * hd), { atol: 1e-12 });
});

Deno.test("attentionBackward's dq, dk and dv match finite differences (GQA, offset)", () => {
  const rng = new Rng(11);
  const dims = { t: 3, h: 6, kv: 2, hd: 5, offset: 2 };
  const tk = dims.offset + dims.t;
  const q = randomArray(rng, dims.t * dims.h * dims.hd); // (T, H·HD)
  const k = randomArray(rng, tk * dims.kv * dims.hd); // (TK, KV·HD)
  const v = randomArray(rng, tk * dims.kv * dims.hd); // (TK, KV·HD)
  const dout = randomArray(rng, dims.t * dims.h * dims.hd); // (T, H·HD)
  const { probs } = attentionForward(q, k, v, dims);
  const { dq, dk, dv } = attentionBackward(dout, q, k, v, probs, dims);
  const loss = () => dot(attentionForward(q, k, v, dims).out, dout);
  assertGradient(loss, q, dq, "attention dq");
  assertGradient(loss, k, dk, "attention dk");
  assertGradient(loss, v, dv, "attention dv");
});

Deno.test("attention rejects bad head counts, offsets and lengths", () => {
  const a = new Float32Array(12);
  assert.throws(
    () => attentionForward(a, a, a, { t: 1, h: 3, kv: 2, hd: 4, offset: 0 }),
    /Query heads 3 are not a multiple of kv heads 2/,
  );
  assert.throws(
    () => attentionForward(a, a, a, { t: 1, h: 3, kv: 3, hd: 4, offset: -1 }),
    /Attention offset -1/,
  );
  assert.throws(
    () => attentionForward(a, a, a, { t: 1, h: 3, kv: 3, hd: 4, offset: 1 }),
    /attention k \(TK, KV·HD\) has 12 elements, expected 24/,
  );
});
