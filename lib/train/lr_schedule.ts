/**
 * Learning-rate schedules with linear warmup, as Hugging Face's `get_*_schedule_with_warmup`.
 *
 * @module
 */

/** Schedule kinds. */
export type LrScheduler = "constant" | "linear" | "cosine";

/**
 * The learning rate of 0-based optimizer step `step` out of `totalSteps`: linear warmup from 0
 * over `warmupSteps`, then constant, linear decay to 0, or half-cosine decay to 0.
 */
export function learningRateAt(
  scheduler: LrScheduler,
  baseLr: number,
  step: number,
  totalSteps: number,
  warmupSteps: number,
): number {
  if (step < warmupSteps) return baseLr * (step / Math.max(1, warmupSteps));
  if (scheduler === "constant") return baseLr;
  const decaySteps = Math.max(1, totalSteps - warmupSteps);
  if (scheduler === "linear") return baseLr * Math.max(0, (totalSteps - step) / decaySteps);
  const progress = (step - warmupSteps) / decaySteps;
  if (scheduler === "cosine") return baseLr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  throw new RangeError(
    `Unknown scheduler ${JSON.stringify(scheduler)}: expected constant, linear or cosine`,
  );
}
