/**
 * Reference of batched LoRA with a different adapter per row (BGMV): each row gets its own
 * adapter's y += s·B·(A·x), at the adapter's own rank, or nothing. The GPU kernels stack the
 * adapters zero-padded to one rank; this reference never pads, so it checks that too.
 *
 * Dimensions: N rows, IN / OUT the projection's features, R an adapter's rank.
 *
 * @module
 */
import { loraForward } from "./lora.ts";

/** One adapter of one projection: A (R, IN), B (OUT, R), scale s. */
export interface RowAdapter {
  /** A (R, IN). */
  a: Float32Array;
  /** B (OUT, R). */
  b: Float32Array;
  /** Rank R. */
  rank: number;
  /** Scale s. */
  scale: number;
}

/**
 * In place: y[n] += s·B·(A·x[n]) with the adapter `adapters[slots[n]]` of row n; rows whose
 * slot is −1 are left alone.
 *
 * @param y (N, OUT)
 * @param x (N, IN)
 */
export function bgmvForward(
  y: Float32Array,
  x: Float32Array,
  slots: readonly number[],
  adapters: readonly RowAdapter[],
  dims: { inFeatures: number; outFeatures: number },
): void {
  const { inFeatures: IN, outFeatures: OUT } = dims;
  slots.forEach((slot, n) => {
    if (slot < 0) return;
    const { a, b, rank, scale } = adapters[slot];
    const row = y.subarray(n * OUT, (n + 1) * OUT);
    loraForward(row, x.subarray(n * IN, (n + 1) * IN), a, b, scale, {
      m: 1,
      k: IN,
      n: OUT,
      r: rank,
    });
  });
}
