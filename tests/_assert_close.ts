/**
 * Tolerance checks shared by the tests: `|actual − expected| ≤ atol + rtol·|expected|`.
 * On failure the message lists the first mismatching pairs and the largest difference.
 *
 * @module
 */
import { AssertionError } from "node:assert/strict";

/** Options for {@linkcode assertClose}. */
export interface CloseOptions {
  /** Absolute tolerance. */
  atol?: number;
  /** Relative tolerance, times `|expected|`. */
  rtol?: number;
  /** A label printed in the failure message. */
  label?: string;
}

/** Asserts that two numeric arrays have the same length and agree element-wise within tolerance. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-5, label = "values" }: CloseOptions = {},
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${label}: length ${actual.length} differs from expected ${expected.length}`,
    });
  }
  const bad: string[] = [];
  let badCount = 0;
  let maxDiff = 0;
  let maxAt = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    const diff = Math.abs(a - e);
    const ok = diff <= atol + rtol * Math.abs(e) || (Number.isNaN(a) && Number.isNaN(e));
    if (!(diff <= maxDiff) || Number.isNaN(diff)) {
      maxDiff = Number.isNaN(diff) ? Infinity : diff;
      maxAt = i;
    }
    if (!ok) {
      badCount++;
      if (bad.length < 8) bad.push(`  [${i}] actual ${a} expected ${e} (diff ${diff})`);
    }
  }
  if (badCount > 0) {
    throw new AssertionError({
      message: `${label}: ${badCount} of ${expected.length} outside atol ${atol} rtol ${rtol}; ` +
        `max diff ${maxDiff} at [${maxAt}]\n${bad.join("\n")}`,
    });
  }
}

/** The largest absolute value in an array; useful to scale tolerances. */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}
