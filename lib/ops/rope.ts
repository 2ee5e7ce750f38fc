/**
 * Rotary embedding in place (`kernels/rope.wgsl`). Dimensions: R rows, NH heads per row,
 * HD head dim, P positions in the tables.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";

/** Arguments of {@linkcode recordRope}. */
export interface RopeArgs {
  /** Rows (R, NH, HD), rotated in place. */
  x: GPUBuffer;
  /** cos table (P, HD/2). */
  cos: GPUBuffer;
  /** sin table (P, HD/2). */
  sin: GPUBuffer;
  /** Rows to rotate. */
  rows: number;
  /** Tokens per sequence: row r is token r % T. */
  T: number;
  /** Heads per row. */
  heads: number;
  /** Head dimension. */
  headDim: number;
  /** Absolute position of token 0. */
  positionOffset: number;
  /** First row of x. */
  rowOffset?: number;
  /** Apply the inverse rotation (the backward pass). */
  inverse?: boolean;
}

/** Rotates pairs (i, i + HD/2) of every head by the position's angles. */
export function recordRope(rec: CommandRecorder, args: RopeArgs): void {
  const pairs = args.heads * (args.headDim / 2);
  rec.dispatch({
    kernel: "rope",
    constants: { SIGN: args.inverse ? -1 : 1 },
    params: new ParamWriter()
      .u32(args.rows).u32(args.T).u32(args.heads).u32(args.headDim)
      .u32(args.positionOffset).u32(args.rowOffset ?? 0)
      .bytes(),
    buffers: [args.x, args.cos, args.sin],
    workgroups: [Math.ceil(pairs / 64), Math.min(args.rows, 65535), Math.ceil(args.rows / 65535)],
  });
}
