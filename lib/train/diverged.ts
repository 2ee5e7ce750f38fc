/**
 * The error a training run stops with when its loss or gradient norm is no longer a finite
 * number: the adapter is then NaN or infinite, so the run saves nothing more and keeps the last
 * good checkpoint.
 *
 * @module
 */

/**
 * Thrown by `trainLora` at the first logged step whose loss or gradient norm is NaN or
 * infinite.
 *
 * @example
 * ```ts
 * try {
 *   for await (const event of trainLora(model, examples, { lr: 1 })) console.log(event.loss);
 * } catch (e) {
 *   if (e instanceof TrainingDivergedError) console.error(e.message); // names the step, loss and norm
 * }
 * ```
 */
export class TrainingDivergedError extends Error {
  /** The 1-based step at which the divergence was seen (logged steps only read the loss). */
  readonly step: number;
  /** Its mean loss since the previous logged step. */
  readonly loss: number;
  /** Its gradient norm before clipping. */
  readonly gradNorm: number;

  /** Describes the step, and the last checkpoint kept (its step), if one was saved. */
  constructor(step: number, loss: number, gradNorm: number, lastCheckpoint: number | null) {
    const kept = lastCheckpoint === null
      ? "no checkpoint was saved before it"
      : `the checkpoint of step ${lastCheckpoint} is kept`;
    super(
      `Training diverged at step ${step}: loss ${loss}, gradient norm ${gradNorm}. Lower the ` +
        `learning rate or lora_alpha, or clip the gradient norm; ${kept}`,
    );
    this.name = "TrainingDivergedError";
    this.step = step;
    this.loss = loss;
    this.gradNorm = gradNorm;
  }
}
