/**
 * Reference optimizer steps with PyTorch semantics, updating f32 state in place. `gradScale`
 * multiplies every gradient first (the global-norm clipping factor).
 *
 * - AdamW (`torch.optim.AdamW`): decoupled weight decay p ← p·(1 − lr·wd), then the
 *   bias-corrected Adam update p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps).
 * - SGD (`torch.optim.SGD`, no momentum): coupled weight decay g ← g + wd·p, p ← p − lr·g.
 *
 * Dimensions: N elements of one parameter tensor.
 *
 * @module
 */
import { type AdamWHyper, checkAdamWHyper, type SgdHyper } from "../ops/optimizer.ts";
import { checkLength, type FloatArray } from "./_array.ts";

/**
 * One AdamW step, in place.
 *
 * @param param (N), updated
 * @param grad (N)
 * @param m (N) first moment, updated
 * @param v (N) second moment, updated
 */
export function adamwStep(
  param: FloatArray,
  grad: ArrayLike<number>,
  m: FloatArray,
  v: FloatArray,
  h: AdamWHyper,
  gradScale = 1,
): void {
  const n = param.length;
  checkLength("adamw grad (N)", grad, n);
  checkLength("adamw m (N)", m, n);
  checkLength("adamw v (N)", v, n);
  checkAdamWHyper(h); // argument checks only: the arithmetic below is this file's own
  const bc1 = 1 - h.beta1 ** h.step, bc2 = 1 - h.beta2 ** h.step; // bias corrections
  for (let i = 0; i < n; i++) {
    const g = grad[i] * gradScale;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    param[i] *= 1 - h.lr * h.weightDecay; // decoupled weight decay
    param[i] -= (h.lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + h.eps);
  }
}

/**
 * One SGD step, in place.
 *
 * @param param (N), updated
 * @param grad (N)
 */
export function sgdStep(
  param: FloatArray,
  grad: ArrayLike<number>,
  h: SgdHyper,
  gradScale = 1,
): void {
  checkLength("sgd grad (N)", grad, param.length);
  for (let i = 0; i < param.length; i++) {
    param[i] -= h.lr * (grad[i] * gradScale + h.weightDecay * param[i]);
  }
}
