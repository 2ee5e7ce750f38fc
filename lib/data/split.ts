/**
 * Train / validation split with a seeded shuffle.
 *
 * @module
 */

import { Rng } from "../util/rng.ts";

/** The two parts of a split; each keeps the original order of its items. */
export interface Split<T> {
  /** Items to train on. */
  train: T[];
  /** Items held out for the validation loss. */
  validation: T[];
}

/**
 * Holds out a random subset for validation. `validation` is a fraction when it is below 1
 * (rounded to the nearest count, at least 1) and a count when it is a whole number of at
 * least 1; 0 holds out nothing. The same seed always picks the same items.
 *
 * @example
 * ```ts
 * const { train, validation } = splitDataset([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.2, 7);
 * // validation.length === 2, train.length === 8
 * ```
 *
 * @throws {RangeError} when `validation` is negative, a non-integer above 1, or leaves no
 *   training items
 */
export function splitDataset<T>(items: readonly T[], validation: number, seed = 0): Split<T> {
  const n = validationCount(items.length, validation);
  const order = new Rng(seed).permutation(items.length); // (N) item indices
  const held = new Set(order.slice(0, n));
  return {
    train: items.filter((_, i) => !held.has(i)),
    validation: items.filter((_, i) => held.has(i)),
  };
}

function validationCount(total: number, validation: number): number {
  if (!(validation >= 0) || (validation > 1 && !Number.isInteger(validation))) {
    throw new RangeError(
      `Validation split must be a fraction in [0, 1) or a whole count, got ${validation}`,
    );
  }
  const n = validation < 1 && validation > 0
    ? Math.max(1, Math.round(total * validation))
    : validation;
  if (n > 0 && n >= total) {
    throw new RangeError(
      `Validation split ${validation} takes ${n} of ${total} records and leaves none to train on`,
    );
  }
  return n;
}
