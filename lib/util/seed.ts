/**
 * Seeds: the GPU kernels (sampling draws, dropout masks) take 32-bit seeds, so larger seeds
 * would collide there; they are refused rather than silently cut to 32 bits.
 *
 * @module
 */

/** The largest seed accepted: 2^32 − 1. */
export const MAX_SEED = 2 ** 32 - 1;

/**
 * Throws a RangeError naming `what` unless `seed` is an integer in [0, 2^32).
 *
 * @example
 * ```ts
 * checkSeed(42, "seed"); // fine
 * checkSeed(2 ** 32, "seed"); // throws: the GPU takes 32-bit seeds
 * ```
 */
export function checkSeed(seed: number, what = "Seed"): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(
      `${what} must be an integer in [0, 2^32), got ${seed} (the GPU kernels take 32-bit seeds)`,
    );
  }
}
