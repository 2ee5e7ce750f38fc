/**
 * The bias of a projection (`kernels/bias_add.wgsl`), added after its product: y += b on every
 * row. Frozen, so backward passes dy through unchanged. Dimensions: R rows, N columns.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { grid1d } from "./_grid.ts";

/** y(R, N) += b(N) on every row; b is f32. */
export function recordBiasAdd(
  rec: CommandRecorder,
  args: { bias: GPUBuffer; y: GPUBuffer; rows: number; n: number },
): void {
  rec.dispatch({
    kernel: "bias_add",
    params: new ParamWriter().u32(args.rows).u32(args.n).bytes(),
    buffers: [args.bias, args.y],
    workgroups: grid1d(args.rows * args.n, 256),
  });
}
