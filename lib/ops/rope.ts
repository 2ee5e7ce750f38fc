/**
 * Rotary embedding in place, on the queries and keys of the same rows in one dispatch
 * (`kernels/rope.wgsl`). Dimensions: R rows, QH query heads and KH key heads per row, HD head
 * dim, P positions in the tables.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";

/** Arguments of {@linkcode recordRope}. */
export interface RopeArgs {
  /** Queries (R, QH, HD), rotated in place. */
  q: GPUBuffer;
  /** Keys (R, KH, HD), rotated in place: in decode, the rows just appended to the KV cache. */
  k: GPUBuffer;
  /** cos table (P, HD/2). */
  cos: GPUBuffer;
  /** sin table (P, HD/2). */
  sin: GPUBuffer;
  /** Rows to rotate in each buffer. */
  rows: number;
  /** Tokens per sequence: row r is token r % T. */
  T: number;
  /** Query heads per row. */
  qHeads: number;
  /** Key heads per row. */
  kHeads: number;
  /** Head dimension. */
  headDim: number;
  /** Absolute position of token 0. */
  positionOffset: number;
  /** First row of q. */
  qRowOffset?: number;
  /** First row of k (the cache slot of the first new key). */
  kRowOffset?: number;
  /** Apply the inverse rotation (the backward pass, on the gradients of q and k). */
  inverse?: boolean;
}

/** Rotates pairs (i, i + HD/2) of every query and key head by the position's angles. */
export function recordRope(rec: CommandRecorder, args: RopeArgs): void {
  if (args.q === args.k) throw new RangeError("Queries and keys must be different buffers");
  const pairs = (args.qHeads + args.kHeads) * (args.headDim / 2);
  rec.dispatch({
    kernel: "rope",
    constants: { SIGN: args.inverse ? -1 : 1 },
    params: new ParamWriter()
      .u32(args.rows).u32(args.T).u32(args.qHeads).u32(args.kHeads).u32(args.headDim)
      .u32(args.positionOffset).u32(args.qRowOffset ?? 0).u32(args.kRowOffset ?? 0)
      .bytes(),
    buffers: [args.q, args.k, args.cos, args.sin],
    workgroups: [Math.ceil(pairs / 64), Math.min(args.rows, 65535), Math.ceil(args.rows / 65535)],
  });
}
