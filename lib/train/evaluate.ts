/**
 * Evaluation: the mean loss over the label tokens of tokenised examples, forward only (no
 * dropout), on the fused cross-entropy. Training's validation loss (on the trainer's buffers)
 * and the eval command (on a {@linkcode GpuEvaluator}) both use it.
 *
 * @module
 */
import { withGpuErrors } from "../gpu/device.ts";
import type { Model } from "../model/model.ts";
import { GpuLoraAdapter } from "../lora/gpu_adapter.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import { packBatch, type TokenizedExample } from "./batch.ts";
import type { ForwardLoss } from "./forward_loss.ts";
import { GpuEvaluator } from "./gpu_evaluator.ts";

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
 * Evaluates `examples` in micro-batches of `batchSize` on a forward-only loss (an evaluator,
 * or a trainer with its current adapter), sized for `batchSize` and the longest example.
 */
export async function evaluateLoss(
  evaluator: ForwardLoss,
  examples: TokenizedExample[],
  batchSize: number,
  padId: number,
): Promise<Evaluation> {
  if (examples.length === 0) throw new RangeError("No examples to evaluate");
  let tokens = 0, sum: Promise<number> | null = null;
  for (let i = 0; i < examples.length; i += batchSize) {
    const batch = packBatch(examples.slice(i, i + batchSize), padId);
    // The token losses add up on the GPU; only the last batch reads the total back.
    sum = evaluator.forwardLoss(batch, i + batchSize >= examples.length);
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
 * Evaluates a WebGPU model, with or without an adapter (applied unmerged), on `examples`.
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
  const seqLen = Math.max(...examples.map((e) => e.inputIds.length));
  const sizes = { batchSize: Math.min(batchSize, examples.length), seqLen };
  const [adapter, evaluator] = await withGpuErrors(
    gpu.device,
    "allocating evaluation buffers",
    () => {
      const adapter = options.adapter
        ? new GpuLoraAdapter(gpu, model.config, options.adapter)
        : null;
      return [adapter, new GpuEvaluator(gpu, model.config, weights, adapter, sizes)] as const;
    },
  );
  try {
    return await evaluateLoss(evaluator, examples, batchSize, model.tokenizer.padId ?? 0);
  } finally {
    evaluator.dispose();
    adapter?.destroy();
  }
}
