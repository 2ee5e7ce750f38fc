/**
 * Causal grouped-query attention backward for training (`kernels/attention_backward_dq.wgsl`
 * then `kernels/attention_backward_dkv.wgsl`): no position offset, keys = queries (S = T).
 * Probabilities are recomputed from q, k and the forward's log-sum-exp; no atomics.
 * Dimensions: B sequences, T tokens, H heads, KV kv heads, HD head dim.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { checkAttentionHeads } from "./attention.ts";

/** Arguments of {@linkcode recordAttentionBackward}. */
export interface AttentionBackwardArgs {
  /** Queries (B, T, H, HD), as the forward read them (rotated). */
  q: GPUBuffer;
  /** Keys (B, T, KV, HD), rotated. */
  k: GPUBuffer;
  /** Values (B, T, KV, HD). */
  v: GPUBuffer;
  /** The forward output (B, T, H, HD). */
  out: GPUBuffer;
  /** Log-sum-exp per row (B, H, T) from the forward. */
  lse: GPUBuffer;
  /** Gradient of the output (B, T, H, HD). */
  dOut: GPUBuffer;
  /** Gradient of q (B, T, H, HD), overwritten. */
  dq: GPUBuffer;
  /** Gradient of k (B, T, KV, HD), overwritten. */
  dk: GPUBuffer;
  /** Gradient of v (B, T, KV, HD), overwritten. */
  dv: GPUBuffer;
  /** Scratch (B, H, T): Σ dOut·out per row. */
  delta: GPUBuffer;
  /** Sequences. */
  batch: number;
  /** Tokens per sequence (queries and keys). */
  T: number;
  /** Heads. */
  heads: number;
  /** KV heads (dividing heads). */
  kvHeads: number;
  /** Head dimension (at most 128). */
  headDim: number;
}

/** dq, dk, dv of o = softmax(q·kᵀ/√HD, causal)·v; dk and dv sum over each kv head's group. */
export function recordAttentionBackward(rec: CommandRecorder, args: AttentionBackwardArgs): void {
  const { batch, T, heads, kvHeads, headDim } = args;
  checkAttentionHeads(args);
  const params = new ParamWriter()
    .u32(T).u32(heads).u32(kvHeads).u32(headDim)
    .f32(1 / Math.sqrt(headDim))
    .bytes();
  rec.dispatch({
    kernel: "attention_backward_dq",
    params,
    buffers: [args.q, args.k, args.v, args.out, args.lse, args.dOut, args.dq, args.delta],
    workgroups: [T, heads, batch],
  }); // delta, dq
  rec.dispatch({
    kernel: "attention_backward_dkv",
    params,
    buffers: [args.q, args.k, args.v, args.lse, args.dOut, args.delta, args.dk, args.dv],
    workgroups: [T, kvHeads, batch],
  }); // dk, dv
}
