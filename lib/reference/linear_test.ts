import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { assertGradient, dot, randomArray } from "./_grad_check.ts";
import { linearBackward, linearForward } from "./linear.ts";

Deno.test("linearForward computes x·Wᵀ with W stored (N, K)", () => {
  const x = new Float32Array([1, 2, 3, -1, 0, 2]); // (2, 3)
  const w = new Float32Array([1, 0, 0, 0, 1, 1]); // (2, 3): picks x0 and x1 + x2
  assertClose(linearForward(x, w, 2, 3, 2), [1, 5, -1, 2], { atol: 0 });
});

Deno.test("linearBackward's dx matches finite differences", () => {
  const rng = new Rng(2);
  const [m, k, n] = [3, 7, 5];
  const x = randomArray(rng, m * k); // (M, K)
  const w = randomArray(rng, n * k); // (N, K)
  const dy = randomArray(rng, m * n); // (M, N)
  const dx = linearBackward(dy, w, m, k, n);
  assertGradient(() => dot(linearForward(x, w, m, k, n), dy), x, dx, "linear dx");
});
