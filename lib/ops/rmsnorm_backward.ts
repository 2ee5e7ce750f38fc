/**
 * RMSNorm backward for the input (`kernels/rmsnorm_backward.wgsl`); the weight is frozen.
 * Dimensions: R rows, D hidden.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { dtypeCode } from "./dtype_code.ts";

/** Arguments of {@linkcode recordRmsnormBackward}. */
export interface RmsnormBackwardArgs {
  /** The forward input (R, D), f32. */
  x: GPUBuffer;
  /** Weight (D). */
  weight: GpuTensor;
  /** Reciprocal RMS per row (R), saved by the forward pass. */
  rstd: GPUBuffer;
  /** Gradient of the output (R, D), f32. */
  dy: GPUBuffer;
  /** Gradient of the input (R, D), f32; a different buffer from dy. */
  dx: GPUBuffer;
  /** Rows. */
  rows: number;
  /** Add to dx instead of overwriting it. */
  accumulate?: boolean;
}

/** dx (+)= rstd · (w·dy − x · rstd² · mean(x · w·dy)), row by row. */
export function recordRmsnormBackward(rec: CommandRecorder, args: RmsnormBackwardArgs): void {
  const D = args.weight.shape[0];
  rec.dispatch({
    kernel: "rmsnorm_backward",
    constants: { W_DTYPE: dtypeCode(args.weight.dtype) },
    params: new ParamWriter().u32(args.rows).u32(D).u32(args.accumulate ? 1 : 0).bytes(),
    buffers: [args.x, args.weight.buffer, args.rstd, args.dy, args.dx],
    workgroups: [Math.min(args.rows, 65535), Math.ceil(args.rows / 65535)],
  });
}
