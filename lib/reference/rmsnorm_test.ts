import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../rng.ts";
import { assertGradient, dot, randomArray } from "./_grad_check.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";

Deno.test("rmsnormForward normalises by the root mean square and scales by w", () => {
  const x = new Float32Array([3, 4, 0, 0, 0, 2]); // (2, 3)
  const w = new Float32Array([1, 2, -1]);
  const eps = 1e-5;
  const { y, rstd } = rmsnormForward(x, w, 2, 3, eps);
  const r0 = 1 / Math.sqrt(25 / 3 + eps), r1 = 1 / Math.sqrt(4 / 3 + eps);
  assertClose(rstd, [r0, r1], { rtol: 1e-7, atol: 0 });
  assertClose(y, [3 * r0, 8 * r0, 0, 0, 0, -2 * r1], { rtol: 1e-7, atol: 0 });
});

Deno.test("rmsnormBackward's dx matches finite differences", () => {
  const rng = new Rng(3);
  const [n, c, eps] = [4, 13, 1e-5];
  const x = randomArray(rng, n * c); // (N, C)
  const w = randomArray(rng, c); // (C)
  const dy = randomArray(rng, n * c); // (N, C)
  const { rstd } = rmsnormForward(x, w, n, c, eps);
  const dx = rmsnormBackward(dy, x, w, rstd, n, c);
  assertGradient(() => dot(rmsnormForward(x, w, n, c, eps).y, dy), x, dx, "rmsnorm dx");
});

Deno.test("rmsnorm rejects mismatched shapes", () => {
  const x = new Float32Array(6);
  assert.throws(() => rmsnormForward(x, new Float32Array(2), 2, 3, 1e-5), /rmsnorm w \(C\) has 2/);
  assert.throws(
    () => rmsnormBackward(x, x, new Float32Array(3), new Float32Array(3), 2, 3),
    /rmsnorm rstd \(N\) has 3/,
  );
});
