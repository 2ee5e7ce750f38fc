import assert from "node:assert/strict";
import { Rng } from "../util/rng.ts";
import { assertGradient, dot, randomArray } from "./_grad_check.ts";
import { loraBackward, loraForward, loraScale } from "./lora.ts";

const dims = { m: 3, k: 7, n: 5, r: 2 };

Deno.test("loraScale is alpha/r, or alpha/sqrt(r) with rsLoRA", () => {
  assert.equal(loraScale(16, 8, false), 2);
  assert.equal(loraScale(16, 4, true), 8);
  assert.throws(() => loraScale(16, 0, false), /LoRA rank 0/);
});

Deno.test("loraForward adds s·B·(A·x) and leaves y unchanged when B is zero", () => {
  const x = new Float64Array([1, 2]); // (1, 2)
  const a = new Float64Array([1, 1]); // (1, 2): A·x = 3
  const b = new Float64Array([2, -1]); // (2, 1)
  const y = new Float64Array([10, 20]); // (1, 2)
  const xa = loraForward(y, x, a, b, 0.5, { m: 1, k: 2, n: 2, r: 1 });
  assert.deepEqual(Array.from(xa), [3]);
  assert.deepEqual(Array.from(y), [13, 18.5]);
  const rng = new Rng(13);
  const y0 = randomArray(rng, dims.m * dims.n);
  const y1 = y0.slice();
  const zeroB = new Float64Array(dims.n * dims.r);
  loraForward(y1, randomArray(rng, dims.m * dims.k), randomArray(rng, 14), zeroB, 2, dims);
  assert.deepEqual(y1, y0);
});

Deno.test("loraBackward's dA, dB and dx share match finite differences", () => {
  const rng = new Rng(14);
  const { m, k, n, r } = dims;
  const s = 1.7;
  const x = randomArray(rng, m * k); // (M, K)
  const a = randomArray(rng, r * k); // (R, K)
  const b = randomArray(rng, n * r); // (N, R)
  const dy = randomArray(rng, m * n); // (M, N)
  const dx0 = randomArray(rng, m * k); // (M, K) what the base layer already put in dx
  const xa = loraForward(new Float64Array(m * n), x, a, b, s, dims);
  const dx = dx0.slice();
  const { dA, dB } = loraBackward(dy, x, xa, a, b, s, dx, dims);
  const loss = () => {
    const y = new Float64Array(m * n); // (M, N)
    loraForward(y, x, a, b, s, dims);
    return dot(y, dy);
  };
  assertGradient(loss, a, dA, "lora dA");
  assertGradient(loss, b, dB, "lora dB");
  assertGradient(loss, x, dx.map((v, i) => v - dx0[i]), "lora dx share");
});

Deno.test("lora rejects mismatched shapes", () => {
  const x = new Float32Array(3 * 7);
  assert.throws(
    () => loraForward(new Float32Array(15), x, new Float32Array(14), new Float32Array(9), 1, dims),
    /matmulNT b \(N, K\) has 9 elements, expected 10/,
  );
  assert.throws(
    () => loraForward(new Float32Array(14), x, new Float32Array(14), new Float32Array(10), 1, dims),
    /lora y \(M, N\) has 14/,
  );
});
