/**
 * Whether a model fits a tab's GPU before it is loaded: the memory estimator's bytes for
 * inference and for LoRA training against a memory budget, with the device's own binding limit
 * (which sets how tensors are chunked). WebGPU does not tell a page how much GPU memory there
 * is, so the budget is the caller's (the playground asks the user, 4 GiB by default).
 *
 * @module
 */
import { DEFAULT_MAX_CONTEXT } from "../defaults.ts";
import { estimateInference, estimateTraining } from "../estimate/estimate_memory.ts";
import { type LoraOptions, resolveLoraConfig } from "../lora/lora_config.ts";
import type { ModelConfig } from "../model/config.ts";

/** Options of {@linkcode checkModelFit}. */
export interface ModelFitOptions {
  /** GPU memory the model may take, in bytes. */
  budgetBytes: number;
  /** The device's largest storage binding (`Gpu.maxBindingBytes`, or the adapter's limit). */
  maxBindingBytes: number;
  /** KV-cache slots for inference. Default `DEFAULT_MAX_CONTEXT`. */
  maxContext?: number;
  /** The LoRA adapter trained (default: the library's defaults). */
  lora?: LoraOptions;
  /** Training micro-batch (sequences) and sequence length. Default 1 × 256. */
  batchSize?: number;
  /** Training sequence length. Default 256. */
  seqLen?: number;
}

/** The verdict of {@linkcode checkModelFit}. */
export interface ModelFit {
  /** Estimated bytes for inference. */
  inferenceBytes: number;
  /** Estimated bytes for training (AdamW, gradient checkpointing). */
  trainingBytes: number;
  /** Whether inference fits the budget. */
  fitsInference: boolean;
  /** Whether training fits the budget. */
  fitsTraining: boolean;
  /** One sentence for the user. */
  message: string;
}

/** Bytes in GiB, or in MiB below 1 GiB. */
const gib = (bytes: number) =>
  bytes < 2 ** 30 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Estimates a model's GPU memory for inference and training and compares it with a budget.
 *
 * @example
 * ```ts
 * const config = parseModelConfig(JSON.parse(await (await fetch(url + "config.json")).text()));
 * const fit = checkModelFit(config, { budgetBytes: 4 * 2 ** 30, maxBindingBytes: 1 << 30 });
 * if (!fit.fitsInference) throw new Error(fit.message);
 * ```
 */
export function checkModelFit(config: ModelConfig, options: ModelFitOptions): ModelFit {
  const lora = resolveLoraConfig(options.lora);
  const inferenceBytes = estimateInference(config, {
    maxContext: options.maxContext ?? DEFAULT_MAX_CONTEXT,
    maxBindingBytes: options.maxBindingBytes,
    lora,
  }).total;
  const trainingBytes = estimateTraining(config, {
    lora,
    batchSize: options.batchSize ?? 1,
    seqLen: options.seqLen ?? 256,
    gradCheckpoint: true,
    optimizer: "adamw",
    maxBindingBytes: options.maxBindingBytes,
  }).total;
  const fitsInference = inferenceBytes <= options.budgetBytes;
  const fitsTraining = trainingBytes <= options.budgetBytes;
  const needs = `needs ${gib(inferenceBytes)} to generate and ${gib(trainingBytes)} to train`;
  const message = fitsTraining
    ? `The model fits: it ${needs}, within ${gib(options.budgetBytes)}`
    : fitsInference
    ? `The model fits for generation only: it ${needs}, and the budget is ${
      gib(options.budgetBytes)
    }`
    : `The model does not fit: it ${needs}, more than the budget of ${gib(options.budgetBytes)}`;
  return { inferenceBytes, trainingBytes, fitsInference, fitsTraining, message };
}
