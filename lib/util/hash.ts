/**
 * The counter-based 32-bit hash of `kernels/_hash.wgsl`, in TypeScript: seeds derived on the
 * host (data order, dropout masks) come from the same function the kernels use, with no state.
 *
 * @module
 */

/** lowbias32 (Chris Wellons' hash-prospector): a bijective 32-bit integer mix. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit value for (seed, counter): mix(mix(counter ⊕ mix(seed)) ⊕ seed), as `hash2` in WGSL. */
export function hash2(seed: number, counter: number): number {
  return mix32(mix32((counter ^ mix32(seed)) >>> 0) ^ seed);
}
