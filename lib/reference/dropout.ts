/**
 * Reference inverted dropout with a counter-based mask: element i of a tensor is dropped when
 * a hash of (seed, i) falls below p·2³², and kept elements are scaled by 1/(1 − p). The mask
 * depends only on (seed, i), so the backward pass re-applies the same call to the gradient.
 * `kernels/dropout.wgsl` computes the same hash bit for bit.
 *
 * Dimensions: N elements.
 *
 * @module
 */
import { hash2 } from "../hash.ts";
import { type FloatArray, zerosLike } from "./_array.ts";

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

/**
 * y = x · mask / (1 − p), with mask[i] = 0 when `dropoutHash(seed, i)` < round(p·2³²).
 * Products are rounded to the input's precision, like the kernel's f32 product.
 *
 * @param x (N)
 * @returns y (N)
 */
export function dropoutForward<A extends FloatArray>(x: A, p: number, seed: number): A {
  checkDropoutArgs(p, seed);
  const threshold = dropoutThreshold(p), scale = dropoutScale(p);
  const y = zerosLike(x, x.length); // (N)
  for (let i = 0; i < x.length; i++) {
    if (dropoutHash(seed, i) >= threshold) y[i] = x[i] * scale;
  }
  return y;
}
