/**
 * Transposition of a stored matrix on the GPU (`kernels/transpose.wgsl`), bit for bit in its
 * own dtype: the backward of a Linear layer reads a frozen weight's transposed copy as the
 * forward reads the weight (`lib/train/transposed_weights.ts`).
 *
 * Dimensions: R rows and C columns of the source.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { type GpuDType, gpuDTypeBytes } from "../gpu/tensor.ts";
import { grid1d } from "./_grid.ts";

/** Arguments of {@linkcode recordTranspose}. */
export interface TransposeArgs {
  /** The source (R, C), in `dtype`, from its first element. */
  src: GPUBuffer;
  /** The destination (C, R), in `dtype`; its words are all written. */
  dst: GPUBuffer;
  /** Rows R of the source. */
  rows: number;
  /** Columns C of the source. */
  cols: number;
  /** Element type of both. */
  dtype: GpuDType;
}

/** Records dst (C, R) = src (R, C)ᵀ. */
export function recordTranspose(rec: CommandRecorder, args: TransposeArgs): void {
  const { rows, cols, dtype } = args;
  const half = gpuDTypeBytes(dtype) === 2;
  const words = Math.ceil((rows * cols) / (half ? 2 : 1));
  if (args.dst.size < words * 4 || args.src.size < words * 4) {
    throw new RangeError(
      `Transposing (${rows}, ${cols}) ${dtype} needs ${words * 4} bytes in source and ` +
        `destination, got ${args.src.size} and ${args.dst.size}`,
    );
  }
  rec.dispatch({
    kernel: "transpose",
    params: new ParamWriter().u32(rows).u32(cols).u32(half ? 1 : 0).u32(words).bytes(),
    buffers: [args.src, args.dst],
    workgroups: grid1d(words, 256),
  });
}
