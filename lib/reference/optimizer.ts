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
import { checkLength, type FloatArray } from "./_array.ts";

/** Hyperparameters of one AdamW step. */
export interface AdamWHyper {
  /** Learning rate. */
  lr: number;
  /** Decay of the first moment. */
  beta1: number;
  /** Decay of the second moment. */
  beta2: number;
  /** Added to the denominator. */
  eps: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** The step number, starting at 1, for bias correction. */
  step: number;
}

/** Hyperparameters of one SGD step. */
export interface SgdHyper {
  /** Learning rate. */
  lr: number;
  /** L2 weight decay added to the gradient. */
  weightDecay: number;
}

/** The AdamW step's derived constants: the decay factor, step size and √(1 − β2ᵗ). */
export function adamwConstants(
  h: AdamWHyper,
): { decay: number; stepSize: number; bc2Sqrt: number } {
  if (!Number.isInteger(h.step) || h.step < 1) {
    throw new RangeError(`AdamW step ${h.step} must be an integer of at least 1`);
  }
  for (const [name, beta] of [["beta1", h.beta1], ["beta2", h.beta2]] as const) {
    if (!(beta >= 0 && beta < 1)) throw new RangeError(`AdamW ${name} ${beta} must be in [0, 1)`);
  }
  return {
    decay: 1 - h.lr * h.weightDecay,
    stepSize: h.lr / (1 - h.beta1 ** h.step),
    bc2Sqrt: Math.sqrt(1 - h.beta2 ** h.step),
  };
}

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
  const { decay, stepSize, bc2Sqrt } = adamwConstants(h);
  for (let i = 0; i < n; i++) {
    const g = grad[i] * gradScale;
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    param[i] = param[i] * decay - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2Sqrt + h.eps);
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
