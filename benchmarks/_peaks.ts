/**
 * `--peak-gb-s` and `--peak-gflop-s`: a machine's published peaks, for comparing tokens/s with
 * the bounds they set (`limitsTable`).
 *
 * @module
 */
import { fail, numberFlag } from "../examples/_cli.ts";
import type { MachinePeaks } from "./_end_to_end_tables.ts";

/** The peaks given on the command line, or null when neither is; exits when one is missing. */
export function peaksFromFlags(
  gbPerSecond: string | undefined,
  gflopPerSecond: string | undefined,
): MachinePeaks | null {
  const gb = numberFlag(gbPerSecond, "peak-gb-s");
  const gflop = numberFlag(gflopPerSecond, "peak-gflop-s");
  if ((gb === undefined) !== (gflop === undefined)) {
    fail("Give both --peak-gb-s and --peak-gflop-s, or neither");
  }
  if (gb === undefined) return null;
  if (!(gb > 0 && gflop! > 0)) fail(`Peaks must be positive, got ${gb} GB/s and ${gflop} GFLOP/s`);
  return { gbPerSecond: gb, gflopPerSecond: gflop! };
}
