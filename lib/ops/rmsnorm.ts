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

/** The buffers and sizes of {@linkcode recordHeadNorms}. */
export interface HeadNormArgs {
  /** q as projected (T, H·HD) and its normed copy (T, H·HD). */
  q: { raw: GPUBuffer; normed: GPUBuffer };
  /** k as projected (T, KV·HD) and its normed copy (T, KV·HD). */
  k: { raw: GPUBuffer; normed: GPUBuffer };
  /** 1/rms of each head of q (T·H) and of k (T·KV); they may share a buffer when unneeded. */
  rstd: { q: GPUBuffer; k: GPUBuffer };
  /** The norms' weights (HD each): `q_norm` and `k_norm`. */
  weights: { q: GpuTensor; k: GpuTensor };
  /** Tokens T, heads H, kv heads KV. */
  tokens: number;
  heads: number;
  kvHeads: number;
  /** Epsilon inside the square root. */
  eps: number;
}

/** Qwen3's per-head norms: every head of q and of k normalised over its HD values. */
export function recordHeadNorms(rec: CommandRecorder, a: HeadNormArgs): void {
  const { q, k, rstd, weights, eps } = a;
  recordRmsnorm(rec, {
    x: q.raw,
    weight: weights.q,
    y: q.normed,
    rstd: rstd.q,
    rows: a.tokens * a.heads,
    eps,
  }); // q = rmsnorm per head (T·H, HD)
  recordRmsnorm(rec, {
    x: k.raw,
    weight: weights.k,
    y: k.normed,
    rstd: rstd.k,
    rows: a.tokens * a.kvHeads,
    eps,
  }); // k = rmsnorm per head (T·KV, HD)
}
