/**
 * Test helpers for the reference ops: seeded random f64 arrays and a central-difference
 * gradient check in f64.
 *
 * @module
 */
import { assertClose, maxAbs } from "../../tests/_assert_close.ts";
import type { Rng } from "../util/rng.ts";

/** `n` normal samples of standard deviation `std`, in f64. */
export function randomArray(rng: Rng, n: number, std = 1): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}

/** Σ a·b, the scalar loss whose gradient with respect to a is b. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Asserts that `analytic` is the gradient of `loss` at `x`, by central differences
 * (loss(x + eps·e_i) − loss(x − eps·e_i)) / 2eps for every element i. `x` is restored.
 */
export function assertGradient(
  loss: () => number,
  x: Float64Array,
  analytic: ArrayLike<number>,
  label: string,
  eps = 1e-5,
): void {
  const numeric = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + eps;
    const plus = loss();
    x[i] = saved - eps;
    const minus = loss();
    x[i] = saved;
    numeric[i] = (plus - minus) / (2 * eps);
  }
  if (maxAbs(numeric) === 0) throw new Error(`${label}: the numeric gradient is all zeros`);
  assertClose(analytic, numeric, { atol: 1e-7 * maxAbs(numeric), rtol: 1e-6, label });
}
