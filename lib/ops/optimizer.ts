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
import { adamwConstants, type AdamWHyper, type SgdHyper } from "../reference/optimizer.ts";
import { grid1d } from "./_grid.ts";

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
