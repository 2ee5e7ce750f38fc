/**
 * Matrix products on the GPU (`kernels/matmul.wgsl`): the general form and the two forms a
 * Linear layer needs, over weights that may be split into row chunks.
 *
 * Dimensions: M rows (tokens), N output features, K input features.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import type { GpuDType, GpuTensor } from "../gpu/tensor.ts";
import { dtypeCode } from "./dtype_code.ts";

/** Arguments of {@linkcode recordMatmul}: C = alpha·op(A)·op(B) (+ C). */
export interface MatmulArgs {
  /** A, f32: (M, K), or (K, M) when `aTransposed`. */
  a: GPUBuffer;
  /** B words: (N, K) when `bLayout` is "nk" (Linear weight), (K, N) when "kn". */
  b: GPUBuffer;
  /** C, f32: (M, N). */
  c: GPUBuffer;
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** Reduced dimension. */
  K: number;
  /** Layout of B. */
  bLayout: "nk" | "kn";
  /** Element type of B. */
  bDtype: GpuDType;
  /** A is stored (K, M). */
  aTransposed?: boolean;
  /** Row strides in elements; default to the dense strides. */
  lda?: number;
  /** Row stride of B. */
  ldb?: number;
  /** Row stride of C. */
  ldc?: number;
  /** Element offsets. */
  aOffset?: number;
  /** Element offset into B. */
  bOffset?: number;
  /** Element offset into C. */
  cOffset?: number;
  /** Scale of the product. */
  alpha?: number;
  /** Add to C instead of overwriting it. */
  accumulate?: boolean;
}

const TILE = 64;

/** Records one matmul dispatch. */
export function recordMatmul(rec: CommandRecorder, args: MatmulArgs): void {
  const { M, N, K } = args;
  const aT = args.aTransposed ?? false;
  const lda = args.lda ?? (aT ? M : K);
  const ldb = args.ldb ?? (args.bLayout === "nk" ? K : N);
  const ldc = args.ldc ?? N;
  const params = new ParamWriter()
    .u32(M).u32(N).u32(K)
    .u32(lda).u32(ldb).u32(ldc)
    .u32(args.aOffset ?? 0).u32(args.bOffset ?? 0).u32(args.cOffset ?? 0)
    .f32(args.alpha ?? 1)
    .u32(args.accumulate ? 1 : 0)
    .bytes();
  rec.dispatch({
    kernel: "matmul",
    constants: {
      A_TRANS: aT ? 1 : 0,
      B_TRANS: args.bLayout === "nk" ? 1 : 0,
      B_DTYPE: dtypeCode(args.bDtype),
    },
    params,
    buffers: [args.a, args.b, args.c],
    workgroups: [Math.ceil(N / TILE), Math.ceil(M / TILE)],
  });
}

/** Arguments shared by the Linear-layer forms. */
export interface LinearArgs {
  /** Weight (N, K), possibly split into row chunks. */
  weight: GpuTensor;
  /** Rows (tokens). */
  rows: number;
  /** Scale of the product. */
  alpha?: number;
  /** Add to the output instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * y(M, N) = alpha · x(M, K) · Wᵀ (+ y). Each weight chunk writes its own slice of columns.
 * `xRowOffset` / `yRowOffset` select the first row (to project only the last token, say).
 */
export function recordLinear(
  rec: CommandRecorder,
  x: GPUBuffer,
  y: GPUBuffer,
  args: LinearArgs & { xRowOffset?: number; yRowOffset?: number },
): void {
  const [N, K] = args.weight.shape;
  for (const chunk of args.weight.chunks) {
    recordMatmul(rec, {
      a: x,
      b: chunk.buffer,
      c: y,
      M: args.rows,
      N: chunk.rows,
      K,
      bLayout: "nk",
      bDtype: args.weight.dtype,
      aOffset: (args.xRowOffset ?? 0) * K,
      ldc: N,
      cOffset: (args.yRowOffset ?? 0) * N + chunk.rowStart,
      alpha: args.alpha,
      accumulate: args.accumulate,
    });
  }
}

/**
 * The input gradient of a Linear layer: dx(M, K) = alpha · dy(M, N) · W (+ dx). Chunks of W
 * split the reduced dimension, so every chunk after the first accumulates.
 */
export function recordLinearBackward(
  rec: CommandRecorder,
  dy: GPUBuffer,
  dx: GPUBuffer,
  args: LinearArgs,
): void {
  const [N, K] = args.weight.shape;
  args.weight.chunks.forEach((chunk, i) => {
    recordMatmul(rec, {
      a: dy,
      b: chunk.buffer,
      c: dx,
      M: args.rows,
      N: K,
      K: chunk.rows,
      bLayout: "kn",
      bDtype: args.weight.dtype,
      lda: N,
      aOffset: chunk.rowStart,
      alpha: args.alpha,
      accumulate: i > 0 || args.accumulate,
    });
  });
}
