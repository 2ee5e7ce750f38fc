/**
 * Matrix products on the GPU (`kernels/matmul.wgsl`, `kernels/matmul_vec4.wgsl`): the general
 * form and the two forms a Linear layer needs, over weights that may be split into row chunks.
 * The kernel variant is the device's choice for the class of M (`Gpu.kernels`, measured by
 * `tuneMatmul`), unless the caller names one. Every variant can fuse an RMSNorm or a
 * SwiGLU into its load of A, and a LoRA branch or a cross-entropy gradient into its store of C
 * (`kernels/_matmul_io.wgsl`).
 *
 * Dimensions: M rows (tokens), N output features, K input features.
 *
 * @module
 */
import type { KernelConstants } from "../gpu/pipeline_cache.ts";
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import type { GpuDType, GpuTensor } from "../gpu/tensor.ts";
import type { MatmulVariantName } from "../gpu/kernel_choices.ts";
import { dtypeCode } from "./dtype_code.ts";
import {
  MATMUL_VARIANTS,
  type MatmulVariant,
  matmulVariantFor,
  SMALL_M,
} from "./matmul_variants.ts";

/** RMSNorm fused into a product's load of A: A(m, k) becomes A(m, k)·g(k)/rms(A(m, :)). */
export interface FusedNorm {
  /** The norm's weight g (K), one chunk, in its stored dtype. */
  weight: GpuTensor;
  /** Added to the mean square. */
  eps: number;
}

/** A LoRA branch added to a product's output: C += scale·U·Lᵀ. */
export interface FusedLora {
  /** U = x·Aᵀ (M, R), f32, computed beforehand (`recordLoraDown`). */
  u: GPUBuffer;
  /** The adapter's B (OUT, R), f32: its row n goes with column n of C. */
  b: GPUBuffer;
  /** Rank R. */
  rank: number;
  /** Scale s. */
  scale: number;
  /** Row of B that goes with column 0 of C (a weight chunk's first row); default 0. */
  bRowOffset?: number;
}

/**
 * The softmax cross-entropy gradient as a product's epilogue: C, a chunk of logits, receives
 * scale·(softmax − onehot(target)) per row instead of the logits (`lib/ops/cross_entropy.ts`
 * computes the statistics it needs in the forward pass).
 */
export interface FusedCrossEntropyGrad {
  /** Row statistics (M, 4) f32: max, Σexp, target logit, loss. */
  stats: GPUBuffer;
  /** Targets (M) i32, negative = ignored (the row's gradient is 0). */
  targets: GPUBuffer;
  /** Multiplies the gradient: 1 / label tokens of the step. */
  scale: number;
  /** Vocabulary id of column 0 of C. */
  vocabOffset: number;
}

/**
 * Arguments of {@linkcode recordMatmul}: C = alpha·op(load(A))·op(B) (+ s·U·Lᵀ) (+ C), where
 * load is the identity, RMSNorm (`norm`) or SwiGLU (`swigluUp`); or, with `crossEntropyGrad`,
 * the gradient of the softmax cross-entropy of those logits.
 */
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
  /** Normalise A's rows on load (A must not be transposed). */
  norm?: FusedNorm;
  /**
   * SwiGLU on load: A holds the gate, and the product uses silu(A)·up, with `up` (M, K) f32 in
   * A's layout (A not transposed, and no `norm`).
   */
  swigluUp?: GPUBuffer;
  /** Add a LoRA branch to C. */
  lora?: FusedLora;
  /** Store the cross-entropy gradient of the product instead of the product. */
  crossEntropyGrad?: FusedCrossEntropyGrad;
  /**
   * Use this kernel variant (tests and benchmarks). By default the device's choice for the
   * class of M; a `matmul_vec4` variant falls back to `tiled` when A or B is shorter than 16
   * bytes.
   */
  variant?: MatmulVariantName;
}

const TILE = 64; // rows and columns of C per workgroup of kernels/matmul.wgsl
/**
 * Columns of C per invocation of kernels/matmul_vec4.wgsl: 4 when B is read as (N, K), 8 when
 * it is read as (K, N), where one 16-byte word of a bf16 row holds 8 columns.
 */
const tnOf = (layout: KernelConstants) => layout.B_TRANS === 1 ? 4 : 8;

/**
 * Records one matmul dispatch. Unless `args.variant` is given, `CommandRecorder.prepare` builds
 * the kernels the device uses for both classes of M, so that a model which records one decode
 * step at load has the pipelines of its prefill too.
 */
export function recordMatmul(rec: CommandRecorder, args: MatmulArgs): void {
  const { M, N, K } = args;
  const aT = args.aTransposed ?? false;
  const lda = args.lda ?? (aT ? M : K);
  const ldb = args.ldb ?? (args.bLayout === "nk" ? K : N);
  const ldc = args.ldc ?? N;
  const aOffset = args.aOffset ?? 0, bOffset = args.bOffset ?? 0;
  const { norm, lora, crossEntropyGrad: ce, swigluUp } = args;
  if (lora && ce) throw new RangeError("A product has one epilogue: LoRA or cross-entropy");
  if (norm && swigluUp) throw new RangeError("A product loads A with RMSNorm or SwiGLU, not both");
  if ((norm || swigluUp) && aT) {
    throw new RangeError("A fused RMSNorm or SwiGLU needs A stored (M, K), not transposed");
  }
  if (norm && (norm.weight.numel !== K || norm.weight.chunks.length !== 1)) {
    throw new RangeError(
      `RMSNorm weight of shape (${norm.weight.shape}) does not match K = ${K} in one chunk`,
    );
  }
  const params = new ParamWriter()
    .u32(M).u32(N).u32(K)
    .u32(lda).u32(ldb).u32(ldc)
    .u32(aOffset).u32(bOffset).u32(args.cOffset ?? 0)
    .f32(args.alpha ?? 1)
    .u32(args.accumulate ? 1 : 0)
    .f32(norm?.eps ?? 0)
    .u32(lora?.rank ?? 0)
    .f32(lora?.scale ?? ce?.scale ?? 0)
    .u32(lora?.bRowOffset ?? ce?.vocabOffset ?? 0)
    .bytes();
  // Whole 16-byte words (4 f32, or 8 bf16/f16 values of B) can be read as vec4.
  const bWord = args.bDtype === "f32" ? 4 : 8;
  const aligned = aOffset % 4 === 0 && lda % 4 === 0 && bOffset % bWord === 0 &&
    ldb % bWord === 0 && args.a.size % 16 === 0 && args.b.size % 16 === 0;
  const layout = {
    A_TRANS: aT ? 1 : 0,
    B_TRANS: args.bLayout === "nk" ? 1 : 0,
    B_DTYPE: dtypeCode(args.bDtype),
    VEC: aligned ? 1 : 0,
    NORM: norm ? 1 : 0,
    G_DTYPE: dtypeCode(norm?.weight.dtype ?? "f32"),
    SWIGLU: swigluUp ? 1 : 0,
    EPILOGUE: lora ? 1 : ce ? 2 : 0,
  };
  // Bindings 6–8 (g or up, then U and L or the statistics and targets); A stands in for those
  // the constants leave unused.
  const fused = [
    norm?.weight.chunks[0].buffer ?? swigluUp ?? args.a,
    lora?.u ?? ce?.stats ?? args.a,
    lora?.b ?? ce?.targets ?? args.a,
  ];
  const pipeline = (name: MatmulVariantName) => pipelineOf(MATMUL_VARIANTS[name], layout, N);
  const { kernel, constants, rows, columns } = pipeline(variantOf(rec, args, M));
  rec.dispatch({
    kernel,
    constants,
    params,
    // matmul_vec4 binds A and B twice: as elements and as 16-byte words (bindings 4 and 5).
    buffers: kernel === "matmul"
      ? [args.a, args.b, args.c, null, null, ...fused]
      : [args.a, args.b, args.c, args.a, args.b, ...fused],
    workgroups: [Math.ceil(N / columns), Math.ceil(M / rows)],
    alsoPrepare: args.variant
      ? []
      : [SMALL_M, SMALL_M + 1].map((m) => pipeline(variantOf(rec, args, m))),
  });
}

/**
 * The kernel, constants and C block per workgroup of a variant for a layout and N columns.
 * Without a split of K, a workgroup has no more invocations than N has columns for (in
 * multiples of 8): a rank-16 LoRA product would otherwise leave most of them idle.
 */
function pipelineOf(
  variant: MatmulVariant,
  layout: KernelConstants & { VEC: number },
  N: number,
): { kernel: MatmulVariant["kernel"]; constants: KernelConstants; rows: number; columns: number } {
  if (variant.kernel === "matmul") {
    const { VEC: _, ...constants } = layout;
    return { kernel: "matmul", constants, rows: TILE, columns: TILE };
  }
  const { rows, split } = variant, TN = tnOf(layout);
  const workgroup = split > 1
    ? variant.workgroup
    : Math.min(variant.workgroup, Math.max(8, Math.ceil(N / TN / 8) * 8));
  return {
    kernel: "matmul_vec4",
    constants: { ...layout, TM: rows, WG: workgroup, SPLIT: split, TN },
    rows,
    columns: (workgroup / split) * TN,
  };
}

/**
 * The variant for a product of `M` rows: the caller's, else the device's choice for M, where it
 * applies (a vec4 variant needs A and B of at least one 16-byte word).
 */
function variantOf(rec: CommandRecorder, args: MatmulArgs, M: number): MatmulVariantName {
  const name = args.variant ?? matmulVariantFor(rec.gpu, M);
  if (MATMUL_VARIANTS[name].kernel === "matmul") return name;
  if (args.a.size >= 16 && args.b.size >= 16) return name;
  if (args.variant === undefined) return "tiled";
  throw new RangeError(
    `Matmul variant ${name} needs A and B buffers of at least 16 bytes, ` +
      `got A ${args.a.size} and B ${args.b.size} bytes`,
  );
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

/** What a product applies to A as it loads it: RMSNorm, or SwiGLU with a second input. */
export type FusedLoad = Pick<MatmulArgs, "norm" | "swigluUp">;

/** The forward form's extra arguments: a row offset and the fusions of {@linkcode MatmulArgs}. */
export interface LinearForwardArgs extends LinearArgs, FusedLoad {
  /** First row of x. */
  xRowOffset?: number;
  /** LoRA branch added to y; `bRowOffset` is set per weight chunk. */
  lora?: Omit<FusedLora, "bRowOffset">;
}

/**
 * y(M, N) = alpha · norm(x)(M, K) · Wᵀ (+ s·U·Bᵀ) (+ y). Each weight chunk writes its own slice
 * of columns. `xRowOffset` selects the first row of x (to project only the last token, say).
 */
export function recordLinear(
  rec: CommandRecorder,
  x: GPUBuffer,
  y: GPUBuffer,
  args: LinearForwardArgs,
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
      cOffset: chunk.rowStart,
      alpha: args.alpha,
      accumulate: args.accumulate,
      norm: args.norm,
      swigluUp: args.swigluUp,
      lora: args.lora && { ...args.lora, bRowOffset: chunk.rowStart },
    });
  }
}

/** The backward form's extra argument: the weight's transposed copies, if it has them. */
export interface LinearBackwardArgs extends LinearArgs {
  /**
   * Chunk i of the weight transposed, (K, rows of chunk i) (`TransposedWeights`): the product
   * then reads it as the forward reads the weight, (N, K), instead of the weight as (K, N).
   */
  transposed?: readonly GpuTensor[];
}

/**
 * The input gradient of a Linear layer: dx(M, K) = alpha · dy(M, N) · W (+ dx). Chunks of W
 * split the reduced dimension, so every chunk after the first accumulates.
 */
export function recordLinearBackward(
  rec: CommandRecorder,
  dy: GPUBuffer,
  dx: GPUBuffer,
  args: LinearBackwardArgs,
): void {
  const [N, K] = args.weight.shape;
  if (args.transposed && args.transposed.length !== args.weight.chunks.length) {
    throw new RangeError(
      `${args.weight.label} has ${args.weight.chunks.length} chunks but ` +
        `${args.transposed.length} transposed copies`,
    );
  }
  args.weight.chunks.forEach((chunk, i) => {
    const copy = args.transposed?.[i].chunks[0].buffer;
    recordMatmul(rec, {
      a: dy,
      b: copy ?? chunk.buffer, // (K, rows) copied, else the chunk (rows, K)
      c: dx,
      M: args.rows,
      N: K,
      K: chunk.rows,
      bLayout: copy ? "nk" : "kn",
      bDtype: args.weight.dtype,
      lda: N,
      aOffset: chunk.rowStart,
      alpha: args.alpha,
      accumulate: i > 0 || args.accumulate,
    });
  });
}
