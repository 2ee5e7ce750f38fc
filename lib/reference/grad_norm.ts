/**
 * Reference global-norm gradient clipping, PyTorch's `clip_grad_norm_`: the gradients are
 * multiplied by min(1, maxNorm / (‖g‖ + 1e-6)), where ‖g‖ is the 2-norm over all of them.
 *
 * Dimensions: N elements of one gradient tensor.
 *
 * @module
 */

/**
 * Σ x², accumulated in f64.
 *
 * @param x (N)
 */
export function squaredNorm(x: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
  return sum;
}

/**
 * The factor that clips gradients of squared global norm `sumSq` to `maxNorm`:
 * min(1, maxNorm / (√sumSq + 1e-6)), or 1 when `maxNorm` ≤ 0 (clipping off).
 */
export function clipScale(sumSq: number, maxNorm: number): number {
  if (!(sumSq >= 0)) throw new RangeError(`Squared gradient norm ${sumSq} must be non-negative`);
  return maxNorm > 0 ? Math.min(1, maxNorm / (Math.sqrt(sumSq) + 1e-6)) : 1;
}
