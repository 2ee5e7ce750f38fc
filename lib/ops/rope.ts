/**
 * Rotary embedding: in place on the queries and keys of the same rows in one dispatch
 * (`kernels/rope.wgsl`, training), or fused with inference's KV-cache append
 * (`kernels/rope_kv_append.wgsl`). Dimensions: R (or T) rows, QH query heads and KH (KVH) key
 * heads per row, HD head dim, S cache slots, P positions in the tables.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import type { GpuDType } from "../gpu/tensor.ts";
import { dtypeCode } from "./dtype_code.ts";

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

/** Element types a KV cache can be stored in. */
export type KvCacheDtype = Extract<GpuDType, "f32" | "f16">;

/**
 * Whether `value` names a KV-cache element type ("f32" or "f16").
 *
 * @example
 * ```ts
 * isKvCacheDtype("f16"); // true
 * isKvCacheDtype("bf16"); // false
 * ```
 */
export function isKvCacheDtype(value: string): value is KvCacheDtype {
  return value === "f32" || value === "f16";
}

/** Arguments of {@linkcode recordRopeKvAppend}. */
export interface RopeKvAppendArgs {
  /** New queries (T, QH, HD), rotated in place. */
  q: GPUBuffer;
  /** New keys (T, KVH, HD), f32, as projected. */
  kNew: GPUBuffer;
  /** New values (T, KVH, HD), f32, as projected. */
  vNew: GPUBuffer;
  /** Key cache (S, KVH, HD) in `cacheDtype`: rows positionOffset.. receive the rotated keys. */
  kCache: GPUBuffer;
  /** Value cache (S, KVH, HD) in `cacheDtype`: rows positionOffset.. receive the values. */
  vCache: GPUBuffer;
  /** Element type of the caches. */
  cacheDtype: KvCacheDtype;
  /** cos table (P, HD/2). */
  cos: GPUBuffer;
  /** sin table (P, HD/2). */
  sin: GPUBuffer;
  /** New tokens T. */
  T: number;
  /** Query heads per row. */
  qHeads: number;
  /** KV heads per row. */
  kvHeads: number;
  /** Head dimension (a multiple of 4 for an f16 cache). */
  headDim: number;
  /** Absolute position (and cache row) of token 0; with `rowTable`, added to each row's. */
  positionOffset: number;
  /**
   * Batched decode: the (slot, position) of each row (T, 2), u32. Row t's key and value go to
   * cache row slot·`cacheRows` + position, its rotation is that position's; the caches hold
   * one sequence of `cacheRows` rows per slot.
   */
  rowTable?: { buffer: GPUBuffer; cacheRows: number };
}

/**
 * Rotates the new queries in place and appends the new keys, rotated, and values to the
 * caches at their positions, converted to the cache's element type.
 */
export function recordRopeKvAppend(rec: CommandRecorder, args: RopeKvAppendArgs): void {
  const { headDim: HD, cacheDtype } = args;
  if (cacheDtype === "f16" && HD % 4 !== 0) {
    throw new RangeError(`An f16 KV cache needs a head dim that is a multiple of 4, got ${HD}`);
  }
  const perHead = Math.ceil(HD / 4); // invocations per head: two pairs each
  const table = args.rowTable;
  rec.dispatch({
    kernel: "rope_kv_append",
    constants: { KV_DTYPE: dtypeCode(cacheDtype), ROW_TABLE: table ? 1 : 0 },
    params: new ParamWriter()
      .u32(args.T).u32(args.qHeads).u32(args.kvHeads).u32(HD).u32(args.positionOffset)
      .u32(table?.cacheRows ?? 0)
      .bytes(),
    buffers: [
      args.q,
      args.kNew,
      args.vNew,
      args.kCache,
      args.vCache,
      args.cos,
      args.sin,
      table?.buffer ?? args.cos, // read only without ROW_TABLE
    ],
    workgroups: [Math.ceil(((args.qHeads + args.kvHeads) * perHead) / 64), args.T],
  });
}
