import assert from "node:assert/strict";
import { residualAdd } from "./residual.ts";

Deno.test("residualAdd adds in place and checks lengths", () => {
  const x = new Float32Array([1, 2, 3]);
  residualAdd(x, [0.5, -2, 10]);
  assert.deepEqual(Array.from(x), [1.5, 0, 13]);
  assert.throws(() => residualAdd(x, [1, 2]), /residualAdd y has 2 elements, expected 3/);
});
