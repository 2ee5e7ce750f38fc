import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { assertGradient, randomArray } from "./_grad_check.ts";
import { crossEntropyBackward, crossEntropyForward } from "./cross_entropy.ts";

Deno.test("crossEntropyForward shifts labels, ignores -100 and sums", () => {
  // (T 4, V 3). Position t is scored against labels[t + 1]; the last position has no target.
  const logits = new Float32Array([
    0,
    0,
    0, // t0 → labels[1] = 2: −log(1/3)
    Math.log(2),
    0,
    0, // t1 → labels[2] = -100: ignored
    5,
    5,
    5, // t2 → labels[3] = 0: −log(1/3)
    100,
    0,
    0, // t3: no target
  ]);
  const labels = [-100, 2, -100, 0];
  const { lossSum, count } = crossEntropyForward(logits, labels, 4, 3);
  assert.equal(count, 2);
  assertClose([lossSum], [2 * Math.log(3)], { rtol: 1e-7 });
});

Deno.test("crossEntropyForward is stable for large logits", () => {
  const logits = new Float32Array([1000, 0, -1000, 0]); // (T 2, V 2)
  const { lossSum } = crossEntropyForward(logits, [0, 1], 2, 2);
  assertClose([lossSum], [1000], { rtol: 1e-9 });
});

Deno.test("crossEntropyBackward matches finite differences of scale·lossSum", () => {
  const rng = new Rng(12);
  const [t, v, scale] = [5, 7, 1 / 11];
  const logits = randomArray(rng, t * v, 2); // (T, V)
  const labels = [3, -100, 6, 0, 2];
  const dlogits = crossEntropyBackward(logits, labels, t, v, scale);
  const loss = () => scale * crossEntropyForward(logits, labels, t, v).lossSum;
  assertGradient(loss, logits, dlogits, "cross-entropy dlogits");
  // Rows with no target (t 0 predicts −100, t 4 predicts nothing) get no gradient.
  assert.ok(dlogits.subarray(0, v).every((x) => x === 0));
  assert.ok(dlogits.subarray(4 * v).every((x) => x === 0));
});

Deno.test("cross-entropy rejects labels outside the vocabulary and wrong lengths", () => {
  const logits = new Float32Array(6); // (T 2, V 3)
  assert.throws(() => crossEntropyForward(logits, [0, 3], 2, 3), /Label 3 at index 1/);
  assert.throws(() => crossEntropyForward(logits, [0, -1], 2, 3), /Label -1 at index 1/);
  assert.throws(() => crossEntropyBackward(logits, [0], 2, 3, 1), /labels \(T\) has 1/);
});
