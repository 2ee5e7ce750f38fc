/**
 * The LoRA branch of an adapted projection as matrix products (`kernels/matmul.wgsl`): u = x·Aᵀ
 * forward (the base product then adds s·u·Bᵀ as it stores y: `lora` in `recordLinear`), and the
 * branch's gradients backward. A and B are f32.
 *
 * Dimensions: M rows (tokens), IN / OUT the projection's features, R rank.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { type FusedLoad, type LinearForwardArgs, recordLinear, recordMatmul } from "./matmul.ts";

/** The sizes and scale of one adapted projection. */
export interface LoraShape {
  /** Rows M. */
  rows: number;
  /** Input features IN. */
  inFeatures: number;
  /** Output features OUT. */
  outFeatures: number;
  /** Rank R. */
  rank: number;
  /** Scale s. */
  scale: number;
}

/** u(M, R) = load(x)(M, IN)·Aᵀ, with A (R, IN), and load (RMSNorm or SwiGLU) if given. */
export function recordLoraDown(
  rec: CommandRecorder,
  shape: LoraShape,
  x: GPUBuffer,
  a: GPUBuffer,
  u: GPUBuffer,
  load: FusedLoad = {},
): void {
  const { rows, inFeatures, rank } = shape;
  recordMatmul(rec, {
    a: x,
    b: a,
    c: u,
    M: rows,
    N: rank,
    K: inFeatures,
    bLayout: "nk",
    bDtype: "f32",
    ...load,
  });
}

/** The buffers of {@linkcode recordLoraBackward}. */
export interface LoraBackwardArgs {
  /** Output gradient (M, OUT). */
  dy: GPUBuffer;
  /** The branch's input (M, IN), after dropout. */
  x: GPUBuffer;
  /** u = x·Aᵀ (M, R) saved by the forward. */
  u: GPUBuffer;
  /** A (R, IN). */
  a: GPUBuffer;
  /** B (OUT, R). */
  b: GPUBuffer;
  /** Gradient of A (R, IN), accumulated. */
  dA: GPUBuffer;
  /** Gradient of B (OUT, R), accumulated. */
  dB: GPUBuffer;
  /** Scratch for du = s·dy·B (M, R). */
  du: GPUBuffer;
  /** Receives du·A (M, IN): the branch's input gradient, before any dropout mask. */
  dx: GPUBuffer;
  /** Add du·A to dx instead of overwriting it. */
  accumulateDx: boolean;
}

/** dB += s·dyᵀ·u, du = s·dy·B, dA += duᵀ·x, dx (+)= du·A. */
export function recordLoraBackward(
  rec: CommandRecorder,
  shape: LoraShape,
  g: LoraBackwardArgs,
): void {
  const { rows: M, inFeatures: IN, outFeatures: OUT, rank: R, scale: s } = shape;
  const f32 = { bLayout: "kn", bDtype: "f32" } as const;
  recordMatmul(rec, {
    ...f32,
    a: g.dy,
    aTransposed: true,
    b: g.u,
    c: g.dB,
    M: OUT,
    N: R,
    K: M,
    alpha: s,
    accumulate: true,
  }); // dB += s·dyᵀ·u
  recordMatmul(rec, { ...f32, a: g.dy, b: g.b, c: g.du, M, N: R, K: OUT, alpha: s }); // du = s·dy·B
  recordMatmul(rec, {
    ...f32,
    a: g.du,
    aTransposed: true,
    b: g.x,
    c: g.dA,
    M: R,
    N: IN,
    K: M,
    accumulate: true,
  }); // dA += duᵀ·x
  recordMatmul(rec, {
    ...f32,
    a: g.du,
    b: g.a,
    c: g.dx,
    M,
    N: IN,
    K: R,
    accumulate: g.accumulateDx,
  }); // dx (+)= du·A
}

/** The LoRA branch of {@linkcode recordAdaptedLinear}. */
export interface AdaptedLora {
  /** Sizes and scale. */
  shape: LoraShape;
  /** A (R, IN), f32. */
  a: GPUBuffer;
  /** B (OUT, R), f32. */
  b: GPUBuffer;
  /** u = input·Aᵀ (M, R), written here (training saves it for backward). */
  u: GPUBuffer;
  /** What A multiplies instead of load(x): dropout(x) in training. Default load(x). */
  input?: GPUBuffer;
}

/**
 * The adapted projection y (+)= load(x)·Wᵀ + s·(load(x)·Aᵀ)·Bᵀ, shared by inference and
 * training: u = load(x)·Aᵀ first (or input·Aᵀ), then the base product adds s·u·Bᵀ as it
 * stores y. `load` (RMSNorm or SwiGLU) is fused into both products' loads of x. Without `lora`,
 * the base product alone.
 */
export function recordAdaptedLinear(
  rec: CommandRecorder,
  x: GPUBuffer,
  y: GPUBuffer,
  args: Omit<LinearForwardArgs, "lora"> & { lora?: AdaptedLora },
): void {
  const { lora, ...linear } = args;
  if (!lora) return recordLinear(rec, x, y, linear);
  const { shape, a, b, u, input } = lora;
  const load: FusedLoad = input ? {} : { norm: args.norm, swigluUp: args.swigluUp };
  recordLoraDown(rec, shape, input ?? x, a, u, load); // u = load(x)·Aᵀ
  recordLinear(rec, x, y, { ...linear, lora: { u, b, rank: shape.rank, scale: shape.scale } }); // y (+)= load(x)·Wᵀ + s·u·Bᵀ
}
