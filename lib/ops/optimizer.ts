/**
 * Optimizer steps on the GPU with PyTorch semantics (`kernels/adamw.wgsl`,
 * `kernels/sgd.wgsl`), in place on f32 tensors. `gradScale` is a 1-element GPU buffer that
 * multiplies every gradient (the clip factor of `grad_norm.ts`), so nothing is read back.
 * Dimensions: N elements of one parameter tensor.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { grid1d } from "./_grid.ts";

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

/** Throws unless `step` is an integer ≥ 1 and both betas are in [0, 1). */
export function checkAdamWHyper(h: AdamWHyper): void {
  if (!Number.isInteger(h.step) || h.step < 1) {
    throw new RangeError(`AdamW step ${h.step} must be an integer of at least 1`);
  }
  for (const [name, beta] of [["beta1", h.beta1], ["beta2", h.beta2]] as const) {
    if (!(beta >= 0 && beta < 1)) throw new RangeError(`AdamW ${name} ${beta} must be in [0, 1)`);
  }
}

/** The AdamW step's derived constants: the decay factor, step size and √(1 − β2ᵗ). */
export function adamwConstants(
  h: AdamWHyper,
): { decay: number; stepSize: number; bc2Sqrt: number } {
  checkAdamWHyper(h);
  return {
    decay: 1 - h.lr * h.weightDecay,
    stepSize: h.lr / (1 - h.beta1 ** h.step),
    bc2Sqrt: Math.sqrt(1 - h.beta2 ** h.step),
  };
}

/** The tensors of one parameter's update. */
export interface OptimizerTensors {
  /** Parameter (N), updated. */
  param: GPUBuffer;
  /** Gradient (N). */
  grad: GPUBuffer;
  /** Elements. */
  n: number;
  /** Gradient multiplier (1), f32. */
  gradScale: GPUBuffer;
}

/**
 * One AdamW step (decoupled weight decay, bias-corrected moments, `step` from 1):
 * p ← p·(1 − lr·wd) − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + eps).
 */
export function recordAdamW(
  rec: CommandRecorder,
  args: OptimizerTensors & AdamWHyper & { m: GPUBuffer; v: GPUBuffer },
): void {
  const { decay, stepSize, bc2Sqrt } = adamwConstants(args);
  rec.dispatch({
    kernel: "adamw",
    params: new ParamWriter()
      .u32(args.n).f32(args.beta1).f32(args.beta2).f32(args.eps)
      .f32(decay).f32(stepSize).f32(bc2Sqrt)
      .bytes(),
    buffers: [args.param, args.grad, args.m, args.v, args.gradScale],
    workgroups: grid1d(args.n, 256),
  });
}

/** One SGD step without momentum: p ← p − lr·(g·gradScale + wd·p). */
export function recordSgd(rec: CommandRecorder, args: OptimizerTensors & SgdHyper): void {
  rec.dispatch({
    kernel: "sgd",
    params: new ParamWriter().u32(args.n).f32(args.lr).f32(args.weightDecay).bytes(),
    buffers: [args.param, args.grad, args.gradScale],
    workgroups: grid1d(args.n, 256),
  });
}
