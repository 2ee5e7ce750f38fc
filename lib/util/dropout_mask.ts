/**
 * The dropout mask's definition, shared by `kernels/dropout.wgsl`'s wrapper and the reference:
 * element i of a tensor is dropped when a hash of (seed, i) falls below round(p·2³²), and kept
 * elements are scaled by 1/(1 − p). The mask depends only on (seed, i).
 *
 * @module
 */
import { hash2 } from "./hash.ts";

/** The 32-bit hash of element `index` under `seed`: mix(mix(index ⊕ mix(seed)) ⊕ seed). */
export function dropoutHash(seed: number, index: number): number {
  return hash2(seed, index);
}

/** Throws unless `p` is a drop probability in [0, 1) and `seed` a 32-bit unsigned integer. */
export function checkDropoutArgs(p: number, seed: number): void {
  if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout probability ${p} must be in [0, 1)`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`Dropout seed ${seed} must be an integer in [0, 2^32)`);
  }
}

/** Elements whose hash is below this value are dropped: round(p·2³²). */
export function dropoutThreshold(p: number): number {
  checkDropoutArgs(p, 0);
  return Math.min(Math.round(p * 2 ** 32), 0xffffffff);
}

/** The scale of kept elements, 1/(1 − p), rounded to f32 as the GPU receives it. */
export function dropoutScale(p: number): number {
  checkDropoutArgs(p, 0);
  return Math.fround(1 / (1 - p));
}
