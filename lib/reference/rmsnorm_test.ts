import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
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

Deno.test("rmsnormForward adds eps to the mean square, inside the square root", () => {
  // Worked by hand: row 0 has mean(x²) = (1 + 4 + 4)·1e-6 / 3 = 3e-6, so with eps = 1e-6
  // rstd = 1/√(4e-6) = 500 (1/√(3e-6) ≈ 577 if eps were dropped or added outside the root);
  // row 1 is zero, so rstd = 1/√eps = 1000 and y = 0 (not NaN).
  const x = new Float64Array([1e-3, -2e-3, 2e-3, 0, 0, 0]); // (2, 3)
  const { y, rstd } = rmsnormForward(x, new Float64Array([1, 2, -1]), 2, 3, 1e-6);
  assertClose(rstd, [500, 1000], { rtol: 1e-12, atol: 0 });
  assertClose(y, [0.5, -2, -1, 0, 0, 0], { rtol: 1e-12, atol: 0 });
});

Deno.test("rmsnormBackward's dx matches finite differences, also where eps matters", () => {
  const rng = new Rng(3);
  const [n, c, eps] = [6, 13, 1e-6];
  // Rows of std 1, 1e-3 (mean(x²) near eps) and 0 (dx = w·dy/√eps).
  const x = randomArray(rng, n * c).map((v, i) => v * [1, 1e-3, 0][Math.floor(i / c) % 3]); // (N, C)
  const w = randomArray(rng, c); // (C)
  const dy = randomArray(rng, n * c); // (N, C)
  const { rstd } = rmsnormForward(x, w, n, c, eps);
  const dx = rmsnormBackward(dy, x, w, rstd, n, c);
  // A step of 1e-7, small beside the rows of std 1e-3.
  assertGradient(() => dot(rmsnormForward(x, w, n, c, eps).y, dy), x, dx, "rmsnorm dx", 1e-7);
});

Deno.test("rmsnorm rejects mismatched shapes", () => {
  const x = new Float32Array(6);
  assert.throws(() => rmsnormForward(x, new Float32Array(2), 2, 3, 1e-5), /rmsnorm w \(C\) has 2/);
  assert.throws(
    () => rmsnormBackward(x, x, new Float32Array(3), new Float32Array(3), 2, 3),
    /rmsnorm rstd \(N\) has 3/,
  );
});
