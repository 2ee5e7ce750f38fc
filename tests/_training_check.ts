/**
 * Shared by the training tests that check one micro-step's loss and LoRA gradients against
 * independent values (PyTorch golden values, or the TypeScript reference): run the step on a
 * fresh trainer, then compare with the golden tolerances (loss within 1e-5 relative, each
 * gradient within 1e-3 of its tensor's largest expected value).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Gpu } from "../lib/gpu/device.ts";
import type { ModelConfig } from "../lib/model/config.ts";
import type { LoraWeights } from "../lib/lora/lora_weights.ts";
import type { GpuWeights } from "../lib/model/gpu_weights.ts";
import type { PackedBatch } from "../lib/train/batch.ts";
import { GpuLoraTrainer, type GpuTrainerOptions } from "../lib/train/gpu_lora_trainer.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";

/** A micro-step's mean token loss and its gradient for every adapter matrix, by PEFT key. */
export interface LossAndGrads {
  /** The mean token loss of the batch. */
  loss: number;
  /** The gradients, each shaped like its matrix: A (R, IN), B (OUT, R). */
  grads: Map<string, ArrayLike<number>>;
}

/** A plain-SGD trainer sized for the whole `batch` (its B × T padded rows). */
export function sgdTrainer(
  gpu: Gpu,
  config: ModelConfig,
  weights: GpuWeights,
  adapter: LoraWeights,
  batch: PackedBatch,
  options: Pick<GpuTrainerOptions, "gradCheckpoint" | "transposedWeightsBytes"> = {},
): GpuLoraTrainer {
  return new GpuLoraTrainer(gpu, config, weights, adapter, {
    batchSize: batch.batchSize,
    seqLen: batch.seqLen,
    optimizer: "sgd",
    ...options,
  });
}

/** Runs one micro-step of `batch` on `trainer` and reads back its mean token loss and gradients. */
export async function microStepOn(
  trainer: GpuLoraTrainer,
  batch: PackedBatch,
  dropoutSeed: number,
): Promise<LossAndGrads> {
  const loss = await trainer.microStep(batch, {
    lossScale: 1 / batch.labelTokens,
    zeroGrads: true,
    dropoutSeed,
  }, true)!; // the scaled total: the mean token loss
  return { loss, grads: await trainer.readGradients() };
}

/**
 * The loss and LoRA gradients of one micro-step over the whole `batch`, on a fresh SGD trainer
 * that is disposed of afterwards.
 */
export async function microStepLossAndGrads(
  gpu: Gpu,
  config: ModelConfig,
  weights: GpuWeights,
  adapter: LoraWeights,
  batch: PackedBatch,
  options: { gradCheckpoint: boolean; dropoutSeed: number; transposedWeightsBytes?: number },
): Promise<LossAndGrads> {
  const { dropoutSeed: _, ...trainerOptions } = options;
  const trainer = sgdTrainer(gpu, config, weights, adapter, batch, trainerOptions);
  const result = await microStepOn(trainer, batch, options.dropoutSeed);
  trainer.dispose();
  return result;
}

/**
 * Asserts the loss within 1e-5 relative and every gradient within 1e-3 of its tensor's largest
 * expected value, with the same set of keys.
 */
export function assertLossAndGrads(actual: LossAndGrads, expected: LossAndGrads): void {
  assertClose([actual.loss], [expected.loss], { atol: 0, rtol: 1e-5, label: "loss" });
  assert.deepEqual([...actual.grads.keys()].sort(), [...expected.grads.keys()].sort());
  for (const [key, want] of expected.grads) {
    assertClose(actual.grads.get(key)!, want, { atol: 1e-3 * maxAbs(want), rtol: 0, label: key });
  }
}
