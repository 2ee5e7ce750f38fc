/**
 * Causal grouped-query attention, forward (`kernels/attention.wgsl`).
 * Dimensions: B sequences, T queries, S key slots per sequence, H heads, KV kv heads, HD.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";

/** Query rows (token, head of a kv head's group) per workgroup: ROWS in the kernel. */
const ROWS = 8;

/** Arguments of {@linkcode recordAttention}. */
export interface AttentionArgs {
  /** Queries (B, T, H, HD), already rotated. */
  q: GPUBuffer;
  /** Keys (B, S, KV, HD), already rotated. */
  k: GPUBuffer;
  /** Values (B, S, KV, HD). */
  v: GPUBuffer;
  /** Output (B, T, H, HD). */
  out: GPUBuffer;
  /** Log-sum-exp per row (B, H, T), kept for backward. */
  lse: GPUBuffer;
  /** Sequences. */
  batch: number;
  /** Queries per sequence. */
  T: number;
  /** Key slots per sequence in k and v. */
  S: number;
  /** Heads. */
  heads: number;
  /** KV heads. */
  kvHeads: number;
  /** Head dimension (at most 128). */
  headDim: number;
  /** Absolute position of query 0; it sees keys 0..positionOffset. */
  positionOffset: number;
}

/**
 * o = softmax(q·kᵀ/√HD, causal) · v, per head, with kv head h / (H/KV). One workgroup serves
 * ROWS (8) query rows of one kv head: its group of H/KV heads over consecutive tokens.
 */
export function recordAttention(rec: CommandRecorder, args: AttentionArgs): void {
  if (args.headDim > 128) throw new RangeError(`Head dim ${args.headDim} exceeds 128`);
  if (args.heads % args.kvHeads !== 0) {
    throw new RangeError(`Heads ${args.heads} are not a multiple of kv heads ${args.kvHeads}`);
  }
  if (args.positionOffset + args.T > args.S) {
    throw new RangeError(
      `Attention over ${args.positionOffset + args.T} keys exceeds ${args.S} slots`,
    );
  }
  rec.dispatch({
    kernel: "attention",
    params: new ParamWriter()
      .u32(args.T).u32(args.heads).u32(args.kvHeads).u32(args.headDim)
      .u32(args.positionOffset).u32(args.S)
      .f32(1 / Math.sqrt(args.headDim))
      .bytes(),
    buffers: [args.q, args.k, args.v, args.out, args.lse],
    workgroups: [
      Math.ceil((args.T * args.heads / args.kvHeads) / ROWS),
      args.kvHeads,
      args.batch,
    ],
  });
}
