/**
 * Choosing between kernel candidates from noisy timings without rolling dice: start from a
 * prior (the candidate that wins on this class of adapter), time every candidate in paired
 * trials (one timing of each per trial, in an order that rotates), and switch away from the
 * prior only when a challenger beats it by a clear margin twice over: in its best trial against
 * the prior's best, and in at least `wins` of the paired trials (a majority). Two candidates within the noise
 * of each other therefore keep the prior, every time.
 *
 * @module
 */

/** Options of {@linkcode chooseByTrials}. */
export interface TrialOptions {
  /** Paired trials; default 5. */
  trials?: number;
  /** How many times faster a challenger must be than the prior; default 1.25. */
  margin?: number;
  /** Paired trials the challenger must win by `margin`; default 3 (a majority of 5). */
  wins?: number;
}

/** What {@linkcode chooseByTrials} decided, and the timings it saw. */
export interface TrialOutcome<C extends string> {
  /** The candidate chosen. */
  chosen: C;
  /** Whether it differs from the prior. */
  switched: boolean;
  /** Each candidate's best (least) trial, in the measure's unit. */
  best: Record<C, number>;
}

/** Default trials, margin and wins. */
export const TRIAL_DEFAULTS: Readonly<Required<TrialOptions>> = {
  trials: 5,
  margin: 1.25,
  wins: 3,
};

/**
 * Times each of `candidates` `trials` times with `measure` (which returns a duration; lower is
 * better) and returns the prior unless a challenger wins clearly (see the module doc).
 * `prior` must be one of the candidates.
 */
export async function chooseByTrials<C extends string>(
  candidates: readonly C[],
  prior: C,
  measure: (candidate: C) => Promise<number>,
  options: TrialOptions = {},
): Promise<TrialOutcome<C>> {
  const { trials, margin, wins } = { ...TRIAL_DEFAULTS, ...options };
  if (!candidates.includes(prior)) {
    throw new RangeError(`The prior "${prior}" is not one of ${candidates.join(", ")}`);
  }
  if (!(trials >= 1 && wins >= 1 && wins <= trials && margin >= 1)) {
    throw new RangeError(`Bad trial options: ${JSON.stringify({ trials, margin, wins })}`);
  }
  const times = new Map<C, number[]>(candidates.map((c) => [c, []]));
  for (let t = 0; t < trials; t++) {
    // Rotate the order, so that no candidate always runs first (or after the same one).
    for (let i = 0; i < candidates.length; i++) {
      const candidate = candidates[(i + t) % candidates.length];
      times.get(candidate)!.push(await measure(candidate));
    }
  }
  const best = Object.fromEntries(
    candidates.map((c) => [c, Math.min(...times.get(c)!)]),
  ) as Record<C, number>;
  const priorTimes = times.get(prior)!;
  let chosen = prior;
  for (const challenger of candidates) {
    if (challenger === prior || best[challenger] >= best[chosen]) continue;
    const clearBest = best[challenger] * margin <= best[prior];
    const pairedWins = times.get(challenger)!
      .filter((seconds, t) => seconds * margin <= priorTimes[t]).length;
    if (clearBest && pairedWins >= wins) chosen = challenger;
  }
  return { chosen, switched: chosen !== prior, best };
}
