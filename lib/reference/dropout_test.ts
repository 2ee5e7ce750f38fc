import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { assertGradient, dot, randomArray } from "./_grad_check.ts";
import { dropoutHash, dropoutScale, dropoutThreshold } from "../util/dropout_mask.ts";
import { dropoutForward } from "./dropout.ts";

const n = 20000;

/** 1 where dropoutForward keeps element i of a tensor of ones. */
function keptMask(p: number, seed: number): Uint8Array {
  return Uint8Array.from(dropoutForward(new Float32Array(n).fill(1), p, seed), (y) => y ? 1 : 0);
}

Deno.test("dropoutForward drops about p of the elements and scales the rest by 1/(1-p)", () => {
  const x = Float32Array.from(randomArray(new Rng(1), n));
  for (const p of [0.1, 0.3, 0.75]) {
    const y = dropoutForward(x, p, 7);
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      if (y[i] === 0) dropped++;
      else assert.equal(y[i], Math.fround(x[i] * Math.fround(1 / (1 - p))));
    }
    const sigma = Math.sqrt((p * (1 - p)) / n);
    assert.ok(Math.abs(dropped / n - p) < 5 * sigma, `p ${p}: dropped ${dropped} of ${n}`);
  }
});

Deno.test("dropoutForward with p = 0 is the identity", () => {
  const x = Float32Array.from(randomArray(new Rng(2), 100));
  assert.deepEqual(dropoutForward(x, 0, 3), x);
});

Deno.test("dropout masks repeat for a seed and are independent across seeds and neighbours", () => {
  const p = 0.5;
  const a = keptMask(p, 11), b = keptMask(p, 12);
  assert.deepEqual(keptMask(p, 11), a);
  let differ = 0, bothKept = 0;
  for (let i = 0; i < n; i++) {
    differ += a[i] ^ b[i];
    if (i + 1 < n) bothKept += a[i] & a[i + 1];
  }
  const sigma = 0.5 / Math.sqrt(n); // of a Bernoulli(1/2) or (1/4) rate, at most
  assert.ok(Math.abs(differ / n - 2 * p * (1 - p)) < 5 * sigma, `seeds differ at ${differ}`);
  assert.ok(Math.abs(bothKept / (n - 1) - (1 - p) ** 2) < 5 * sigma, `neighbours ${bothKept}`);
});

Deno.test("dropoutHash is a 32-bit value that depends on every bit of seed and index", () => {
  const base = dropoutHash(0x12345678, 1000);
  assert.ok(Number.isInteger(base) && base >= 0 && base < 2 ** 32);
  for (let bit = 0; bit < 32; bit++) {
    assert.notEqual(dropoutHash((0x12345678 ^ (1 << bit)) >>> 0, 1000), base, `seed bit ${bit}`);
    assert.notEqual(dropoutHash(0x12345678, (1000 ^ (1 << bit)) >>> 0), base, `index bit ${bit}`);
  }
});

Deno.test("dropout thresholds and scales, and their argument checks", () => {
  assert.equal(dropoutThreshold(0), 0);
  assert.equal(dropoutThreshold(0.5), 2 ** 31);
  assert.equal(dropoutThreshold(1 - 2 ** -40), 2 ** 32 - 1);
  assert.equal(dropoutScale(0.5), 2);
  assert.throws(() => dropoutThreshold(1), /Dropout probability 1 must be in \[0, 1\)/);
  assert.throws(() => dropoutScale(-0.1), /Dropout probability -0.1/);
  for (const seed of [-1, 2 ** 32, 1.5]) {
    assert.throws(() => dropoutForward(new Float32Array(1), 0.1, seed), /Dropout seed/);
  }
});

Deno.test("dropout's gradient is the same dropout applied to the output gradient", () => {
  const rng = new Rng(3);
  const x = randomArray(rng, 40), dy = randomArray(rng, 40);
  const dx = dropoutForward(dy, 0.4, 99);
  assertGradient(() => dot(dropoutForward(x, 0.4, 99), dy), x, dx, "dropout dx");
  assertClose(dx.map((g) => g === 0 ? 0 : 1), dropoutForward(x, 0.4, 99).map((y) => y ? 1 : 0));
});
