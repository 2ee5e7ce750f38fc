/**
 * Batched LoRA with a different adapter per row (Punica's / S-LoRA's BGMV): the adapters'
 * matrices are stacked over slots, zero-padded to one rank, and each row names its slot
 * (−1 for none). `kernels/bgmv_shrink.wgsl` computes u = x·Aᵀ per row, and
 * `kernels/bgmv_expand.wgsl` adds s·u·Bᵀ to the base product's output.
 *
 * Dimensions: N rows, IN / OUT the projection's features, R the padded rank, NS slots.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";

/** Rows a grid dimension holds; the kernels index row `y + z · 65535`. */
const MAX_GRID = 65535;

/** The stacked adapters of one projection, and which slot each row uses. */
export interface BgmvArgs {
  /** The rows' slots (N), i32, −1 for a row without an adapter. */
  adapterIndex: GPUBuffer;
  /** Rows N. */
  rows: number;
  /** Padded rank R of the stacks. */
  rank: number;
  /** u = x·Aᵀ per row (N, R). */
  u: GPUBuffer;
}

/** u(N, R) = x(N, IN)·A[slot]ᵀ per row, with A stacked as (NS, R, IN); 0 for rows without a slot. */
export function recordBgmvShrink(
  rec: CommandRecorder,
  args: BgmvArgs & { x: GPUBuffer; a: GPUBuffer; inFeatures: number },
): void {
  rec.dispatch({
    kernel: "bgmv_shrink",
    params: new ParamWriter().u32(args.rows).u32(args.inFeatures).u32(args.rank).bytes(),
    buffers: [args.x, args.a, args.adapterIndex, args.u],
    workgroups: [args.rank, Math.min(args.rows, MAX_GRID), Math.ceil(args.rows / MAX_GRID)],
  });
}

/**
 * y(N, OUT) += scale[slot]·u(N, R)·B[slot]ᵀ per row, with B stacked as (NS, OUT, R) and the
 * scales (NS); rows without a slot are left as they are.
 */
export function recordBgmvExpand(
  rec: CommandRecorder,
  args: BgmvArgs & { b: GPUBuffer; scale: GPUBuffer; y: GPUBuffer; outFeatures: number },
): void {
  rec.dispatch({
    kernel: "bgmv_expand",
    params: new ParamWriter().u32(args.rows).u32(args.outFeatures).u32(args.rank).bytes(),
    buffers: [args.u, args.b, args.adapterIndex, args.scale, args.y],
    workgroups: [
      Math.ceil(args.outFeatures / 64),
      Math.min(args.rows, MAX_GRID),
      Math.ceil(args.rows / MAX_GRID),
    ],
  });
}

/**
 * One adapter's A (R, IN) and B (OUT, R) zero-padded to rank `padded` ≥ R, as one slot of the
 * stacks the kernels read: A (padded, IN) and B (OUT, padded).
 *
 * @example
 * ```ts
 * const slot = padLoraToRank({ a, b, rank: 2 }, 4, { inFeatures: 8, outFeatures: 6 });
 * slot.a.length; // 4 · 8
 * ```
 */
export function padLoraToRank(
  lora: { a: Float32Array; b: Float32Array; rank: number },
  padded: number,
  dims: { inFeatures: number; outFeatures: number },
): { a: Float32Array<ArrayBuffer>; b: Float32Array<ArrayBuffer> } {
  const { rank: R } = lora, { inFeatures: IN, outFeatures: OUT } = dims;
  if (R > padded) throw new RangeError(`LoRA rank ${R} exceeds the slots' rank ${padded}`);
  const a = new Float32Array(padded * IN); // (padded, IN)
  a.set(lora.a.subarray(0, R * IN));
  const b = new Float32Array(OUT * padded); // (OUT, padded)
  for (let o = 0; o < OUT; o++) b.set(lora.b.subarray(o * R, (o + 1) * R), o * padded);
  return { a, b };
}
