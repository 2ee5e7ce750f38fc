import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { randomArray } from "./_grad_check.ts";
import { adamwStep, sgdStep } from "./optimizer.ts";

const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };

Deno.test("adamwStep with a constant gradient moves each parameter by lr·g/(|g|+eps) per step", () => {
  // With bias correction, m̂ = g and v̂ = g² at every step when g is constant.
  const g = new Float64Array([0.5, -2, 1e-3, 0]);
  const p0 = new Float64Array([1, 2, 3, 4]);
  const p = p0.slice(), m = new Float64Array(4), v = new Float64Array(4);
  for (let step = 1; step <= 5; step++) adamwStep(p, g, m, v, { ...hyper, step });
  const expected = p0.map((x, i) => x - (5 * hyper.lr * g[i]) / (Math.abs(g[i]) + hyper.eps));
  assertClose(p, expected, { atol: 1e-12, rtol: 1e-9 });
});

Deno.test("adamwStep decays weights decoupled from the gradient", () => {
  const p = new Float64Array([1, -3]), m = new Float64Array(2), v = new Float64Array(2);
  adamwStep(p, [0, 0], m, v, { ...hyper, weightDecay: 0.1 });
  assert.deepEqual(Array.from(p), [1 * (1 - 0.01 * 0.1), -3 * (1 - 0.01 * 0.1)]);
  assert.deepEqual(Array.from(m), [0, 0]);
});

Deno.test("adamwStep equals the textbook Adam with bias-corrected moments, plus decay", () => {
  const rng = new Rng(1);
  const n = 9, h = { ...hyper, weightDecay: 0.05, beta1: 0.8, beta2: 0.95 };
  const p = randomArray(rng, n), m = new Float64Array(n), v = new Float64Array(n);
  const q = p.slice(), mq = new Float64Array(n), vq = new Float64Array(n);
  for (let step = 1; step <= 4; step++) {
    const g = randomArray(rng, n);
    adamwStep(p, g.map((x) => 4 * x), m, v, { ...h, step }, 0.25);
    for (let i = 0; i < n; i++) {
      mq[i] = h.beta1 * mq[i] + (1 - h.beta1) * g[i];
      vq[i] = h.beta2 * vq[i] + (1 - h.beta2) * g[i] ** 2;
      const mHat = mq[i] / (1 - h.beta1 ** step), vHat = vq[i] / (1 - h.beta2 ** step);
      q[i] = q[i] - h.lr * h.weightDecay * q[i] - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
    }
  }
  assertClose(p, q, { atol: 1e-12, rtol: 1e-10 });
});

Deno.test("adamwStep rejects a step below 1 and betas outside [0, 1)", () => {
  const a = new Float64Array(1);
  assert.throws(
    () => adamwStep(a, [1], a.slice(), a.slice(), { ...hyper, step: 0 }),
    /AdamW step 0/,
  );
  assert.throws(
    () => adamwStep(a, [1], a.slice(), a.slice(), { ...hyper, beta2: 1 }),
    /AdamW beta2 1 must be in \[0, 1\)/,
  );
  assert.throws(() => adamwStep(a, [1, 2], a, a, hyper), /adamw grad \(N\) has 2 elements/);
});

Deno.test("sgdStep subtracts lr·(scaled gradient + weight decay·param)", () => {
  const p = new Float64Array([1, -2]);
  sgdStep(p, [4, 8], { lr: 0.1, weightDecay: 0.5 }, 0.25);
  assertClose(p, [1 - 0.1 * (1 + 0.5), -2 - 0.1 * (2 - 1)], { atol: 1e-15, rtol: 0 });
});
