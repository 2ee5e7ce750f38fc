import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { randomArray } from "./_grad_check.ts";
import { clipScale, squaredNorm } from "./grad_norm.ts";

Deno.test("squaredNorm sums squares", () => {
  assert.equal(squaredNorm([3, -4]), 25);
  assert.equal(squaredNorm([]), 0);
});

Deno.test("clipScale brings a large global norm down to maxNorm and leaves small ones", () => {
  const rng = new Rng(1);
  const grads = [randomArray(rng, 30, 2), randomArray(rng, 7, 5)]; // two tensors
  const sumSq = grads.reduce((s, g) => s + squaredNorm(g), 0);
  const norm = Math.sqrt(sumSq);
  const scale = clipScale(sumSq, 1);
  const clipped = grads.reduce((s, g) => s + squaredNorm(g.map((x) => x * scale)), 0);
  assertClose([Math.sqrt(clipped)], [norm / (norm + 1e-6)], { atol: 0, rtol: 1e-12 });
  assert.equal(clipScale(sumSq, 2 * norm), 1);
  assert.equal(clipScale(0, 1), 1);
});

Deno.test("clipScale with maxNorm 0 turns clipping off; a negative sum is rejected", () => {
  assert.equal(clipScale(1e6, 0), 1);
  assert.equal(clipScale(1e6, -1), 1);
  assert.throws(() => clipScale(-1, 1), /Squared gradient norm -1 must be non-negative/);
  assert.throws(() => clipScale(Number.NaN, 1), /Squared gradient norm NaN/);
});
