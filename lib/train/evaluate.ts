/**
 * Evaluation: the mean loss over the label tokens of tokenised examples, forward only (no
 * dropout), on the GPU trainer's fused cross-entropy. Training's validation loss and the eval
 * command both use it.
 *
 * @module
 */
import { withGpuErrors } from "../gpu/device.ts";
import type { Model } from "../model/model.ts";
import { resolveLoraConfig } from "../lora/lora_config.ts";
import { initLoraWeights, type LoraWeights } from "../lora/lora_weights.ts";
import { packBatch, type TokenizedExample } from "./batch.ts";
import { GpuLoraTrainer } from "./gpu_lora_trainer.ts";

/** The loss of a set of examples. */
export interface Evaluation {
  /** Mean cross-entropy over all label tokens (token-weighted, not a mean of batch means). */
  loss: number;
  /** Label tokens counted. */
  tokens: number;
  /** exp(loss). */
  perplexity: number;
}

/**
 * Evaluates `examples` in micro-batches of `batchSize` with a trainer's current adapter. The
 * trainer must have been sized for `batchSize` and the longest example.
 */
export async function evaluateLoss(
  trainer: GpuLoraTrainer,
  examples: TokenizedExample[],
  batchSize: number,
  padId: number,
): Promise<Evaluation> {
  if (examples.length === 0) throw new RangeError("No examples to evaluate");
  let tokens = 0, sum: Promise<number> | null = null;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = packBatch(examples.slice(i, i + batchSize), padId);
    const options = { lossScale: 1, zeroGrads: false, dropoutSeed: 0, backward: false };
    // The token losses add up on the GPU; only the last batch reads the total back.
    sum = trainer.microStep(batch, options, i + batchSize >= examples.length);
    tokens += batch.labelTokens;
  }
  const loss = (await sum!) / Math.max(1, tokens);
  return { loss, tokens, perplexity: Math.exp(loss) };
}

/** Options of {@linkcode evaluateModel}. */
export interface EvaluateModelOptions {
  /** The adapter to apply unmerged; none (the base model) by default. */
  adapter?: LoraWeights;
  /** Sequences per forward pass; default 1. */
  batchSize?: number;
}

/**
 * Evaluates a WebGPU model, with or without an adapter, on `examples`. Without an adapter it
 * runs with a rank-1 adapter whose B is zero, which leaves every output exactly the base's.
 *
 * @example
 * ```ts
 * const { loss, perplexity } = await evaluateModel(model, examples, { adapter: "mine" });
 * ```
 */
export async function evaluateModel(
  model: Model,
  examples: TokenizedExample[],
  options: EvaluateModelOptions = {},
): Promise<Evaluation> {
  const gpu = model.gpu, weights = model.gpuWeights;
  if (!gpu || !weights) {
    throw new Error("Evaluation needs the WebGPU backend; the model was loaded on the CPU");
  }
  if (examples.length === 0) throw new RangeError("No examples to evaluate");
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize ${batchSize} must be a positive integer`);
  }
  const adapter = options.adapter ??
    initLoraWeights(
      model.config,
      resolveLoraConfig({ r: 1, targetModules: ["q_proj"], dropout: 0 }),
      0,
    );
  const seqLen = Math.max(...examples.map((e) => e.inputIds.length));
  const trainer = await withGpuErrors(
    gpu.device,
    "allocating evaluation buffers",
    () =>
      new GpuLoraTrainer(gpu, model.config, weights, adapter, {
        batchSize: Math.min(batchSize, examples.length),
        seqLen,
        gradCheckpoint: true, // forward only: one shared set of layer activations is enough
        optimizer: "sgd",
      }),
  );
  try {
    return await evaluateLoss(trainer, examples, batchSize, model.tokenizer.eosIds[0] ?? 0);
  } finally {
    trainer.dispose();
  }
}
