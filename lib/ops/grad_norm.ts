/**
 * Global-norm gradient clipping without a readback (`kernels/squared_norm.wgsl`,
 * `kernels/clip_scale.wgsl`): accumulate Σ g² of every gradient tensor into one f32, then
 * turn it into the factor the optimizer kernels multiply gradients by.
 * Dimensions: N elements of one gradient tensor.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";

/**
 * sumSq[0] += Σ x(N)². One workgroup reduces in a fixed order, so the sum is deterministic;
 * clear `sumSq` before the first tensor.
 */
export function recordSquaredNormAccumulate(
  rec: CommandRecorder,
  args: { x: GPUBuffer; n: number; sumSq: GPUBuffer },
): void {
  rec.dispatch({
    kernel: "squared_norm",
    params: new ParamWriter().u32(args.n).bytes(),
    buffers: [args.x, args.sumSq],
    workgroups: [1],
  });
}

/** gradScale[0] = min(1, maxNorm / (√sumSq[0] + 1e-6)), or 1 when maxNorm ≤ 0. */
export function recordClipScale(
  rec: CommandRecorder,
  args: { sumSq: GPUBuffer; gradScale: GPUBuffer; maxNorm: number },
): void {
  rec.dispatch({
    kernel: "clip_scale",
    params: new ParamWriter().f32(args.maxNorm).bytes(),
    buffers: [args.sumSq, args.gradScale],
    workgroups: [1],
  });
}
