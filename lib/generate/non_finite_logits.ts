/**
 * The error generation stops with when the model's logits are NaN: its weights or its
 * adapter's are broken, and no token can be sampled.
 *
 * @module
 */

/** The id the GPU sampler (`kernels/sample.wgsl`) writes when every score of a row is NaN. */
export const NO_TOKEN = 0xffffffff;

/**
 * Thrown by the generation loop when a step's logits are NaN.
 *
 * @example
 * ```ts
 * try {
 *   await model.generate("Hello", { adapter: "diverged" });
 * } catch (e) {
 *   if (e instanceof NonFiniteLogitsError) console.error(e.message);
 * }
 * ```
 */
export class NonFiniteLogitsError extends Error {
  /** Says at which generated token the logits were NaN. */
  constructor(position: number) {
    super(
      `The model's logits for generated token ${position} are NaN: its weights or its adapter ` +
        `are broken (a diverged training run?), so no token can be sampled`,
    );
    this.name = "NonFiniteLogitsError";
  }
}
