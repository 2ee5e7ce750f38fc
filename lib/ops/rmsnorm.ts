/**
 * RMSNorm forward (`kernels/rmsnorm.wgsl`). Dimensions: R rows, D hidden.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { dtypeCode } from "./dtype_code.ts";

/** Arguments of {@linkcode recordRmsnorm}. */
export interface RmsnormArgs {
  /** Input (R, D), f32. */
  x: GPUBuffer;
  /** Weight (D). */
  weight: GpuTensor;
  /** Output (R, D), f32. */
  y: GPUBuffer;
  /** Reciprocal RMS per row (R), kept for backward. */
  rstd: GPUBuffer;
  /** Rows to normalise. */
  rows: number;
  /** Epsilon inside the square root. */
  eps: number;
}

/** y = x · rsqrt(mean(x²) + eps) · w, row by row. */
export function recordRmsnorm(rec: CommandRecorder, args: RmsnormArgs): void {
  const D = args.weight.shape[0];
  rec.dispatch({
    kernel: "rmsnorm",
    constants: { W_DTYPE: dtypeCode(args.weight.dtype) },
    params: new ParamWriter()
      .u32(args.rows).u32(D).f32(args.eps)
      .bytes(),
    buffers: [args.x, args.weight.buffer, args.y, args.rstd],
    workgroups: [Math.min(args.rows, 65535), Math.ceil(args.rows / 65535)],
  });
}
