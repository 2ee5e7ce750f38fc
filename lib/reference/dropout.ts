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
import {
  checkDropoutArgs,
  dropoutHash,
  dropoutScale,
  dropoutThreshold,
} from "../util/dropout_mask.ts";
import { type FloatArray, zerosLike } from "./_array.ts";

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
