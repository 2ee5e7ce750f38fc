/**
 * The optimizer step over an adapter's parameters: the global gradient norm and its clip
 * scale computed on the GPU, then AdamW (or SGD) on every parameter with that scale applied.
 *
 * @module
 */
import type { Allocated } from "../gpu/buffer_plan.ts";
import type { CommandRecorder } from "../gpu/recorder.ts";
import { recordClipScale, recordSquaredNormAccumulate } from "../ops/grad_norm.ts";
import { recordAdamW, recordSgd } from "../ops/optimizer.ts";
import type { ParameterPlan, TrainingPlan } from "./train_plan.ts";

/** Optimizer settings for one step. */
export interface OptimizerStepOptions {
  /** Learning rate of this step. */
  lr: number;
  /** 1-based step number (AdamW bias correction). */
  step: number;
  /** Global-norm clip; 0 disables. */
  maxGradNorm: number;
  /** Decoupled weight decay. */
  weightDecay: number;
  /** AdamW betas. */
  betas: [number, number];
  /** AdamW epsilon. */
  eps: number;
}

/** The optimizers a trainer can run. */
export type OptimizerKind = "adamw" | "sgd";

/**
 * Records ‖g‖² into `norm.sumSq`, the clip scale min(1, max/‖g‖) into `norm.scale`, and the
 * update of every parameter (AdamW with states m and v, or SGD).
 */
export function recordOptimizerStep(
  rec: CommandRecorder,
  parameters: Allocated<ParameterPlan>[],
  norm: Allocated<TrainingPlan["gradNorm"]>,
  kind: OptimizerKind,
  options: OptimizerStepOptions,
): void {
  const sumSq = norm.sumSq.buffer, gradScale = norm.scale.buffer;
  rec.clear(sumSq);
  for (const { grad } of parameters) {
    recordSquaredNormAccumulate(rec, { x: grad.buffer, n: grad.numel, sumSq });
  }
  recordClipScale(rec, { sumSq, gradScale, maxNorm: options.maxGradNorm }); // scale = min(1, max/‖g‖)
  for (const { param, grad, states } of parameters) {
    const common = {
      param: param.buffer,
      grad: grad.buffer,
      n: param.numel,
      lr: options.lr,
      weightDecay: options.weightDecay,
      gradScale,
    };
    if (kind === "adamw") {
      recordAdamW(rec, {
        ...common,
        m: states[0].buffer,
        v: states[1].buffer,
        beta1: options.betas[0],
        beta2: options.betas[1],
        eps: options.eps,
        step: options.step,
      });
    } else {
      recordSgd(rec, common);
    }
  }
}
