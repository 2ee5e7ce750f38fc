/**
 * GPU memory estimates for training and inference, summed from the same plans that allocate
 * the real buffers (`planInference`, `planTraining`, the weight shapes of the checkpoint and
 * the adapter), so estimate and reality cannot drift. Only the recorder's uniform buffer,
 * which grows with the number of dispatches of a step, is a fixed allowance.
 *
 * @module
 */
import type { DType } from "../format/dtype.ts";
import { dtypeBytes } from "../format/dtype.ts";
import type { MemoryReport } from "../gpu/memory.ts";
import type { ModelConfig } from "../model/config.ts";
import { modelTensorShapes } from "../model/shapes.ts";
import { shapeSize } from "../format/safetensors.ts";
import type { LoraConfig } from "../lora/lora_config.ts";
import { loraTensorShapes } from "../lora/lora_weights.ts";
import type { KvCacheDtype } from "../ops/rope.ts";
import { type BufferSpec, f32Spec, planBuffers, specBytes } from "../gpu/buffer_plan.ts";
import { inferenceSizes, planInference } from "../model/inference_plan.ts";
import { planTraining } from "../train/train_plan.ts";
import { planTransposedWeights, TRANSPOSED_WEIGHTS_BYTES } from "../train/transposed_weights.ts";
import { type BatchSizes, planBatch } from "../model/batch_plan.ts";

/** Bytes by category. */
export interface MemoryBreakdown {
  /** Base weights in their stored dtype. */
  weights: number;
  /** LoRA A and B (f32). */
  lora: number;
  /** LoRA gradients. */
  gradients: number;
  /** Optimizer state (AdamW m and v). */
  optimizer: number;
  /** Activations (saved for backward in training). */
  activations: number;
  /** KV cache (inference). */
  kvCache: number;
  /** Scratch: logits chunk, gradient workspace, RoPE tables, uniforms. */
  workspace: number;
  /** Sum of the above. */
  total: number;
}

/** Settings of a training estimate. */
export interface TrainingEstimateSettings {
  /** LoRA settings. */
  lora: LoraConfig;
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Longest sequence (max_length). */
  seqLen: number;
  /** Recompute layers in backward. */
  gradCheckpoint: boolean;
  /** Optimizer (AdamW keeps two states per parameter). */
  optimizer: "adamw" | "sgd";
  /** The device's binding limit (bounds the logits chunk); default 128 MiB. */
  maxBindingBytes?: number;
  /** The dtype the weights are stored in; default the config's `torch_dtype`. */
  weightsDtype?: DType;
  /**
   * Cap on the bytes of the backward's transposed weight copies (`TransposedWeights`), counted
   * as weights; default `TRANSPOSED_WEIGHTS_BYTES`, as the trainer's.
   */
  transposedWeightsBytes?: number;
}

/** Settings of an inference estimate. */
export interface InferenceEstimateSettings {
  /** KV-cache slots. */
  maxContext: number;
  /** Prefill chunk. Default 256. */
  chunkTokens?: number;
  /** An adapter applied unmerged (its A and B and the A·x scratch); none by default. */
  lora?: LoraConfig;
  /** Binding limit; default 128 MiB. */
  maxBindingBytes?: number;
  /** The dtype the weights are stored in; default the config's `torch_dtype`. */
  weightsDtype?: DType;
  /** Element type of the KV cache; default f32. */
  kvCacheDtype?: KvCacheDtype;
}

/** Allowance for a recorder's uniform buffer (256 B a dispatch; it starts at 16 KiB). */
const UNIFORMS = 64 * 256;
const DEFAULT_BINDING = 128 * 2 ** 20;

/**
 * Bytes of the base weights as the GPU holds them, tied embeddings once: in `dtype` (default:
 * the config's), except biases, which are uploaded as f32.
 */
export function weightBytes(config: ModelConfig, dtype: DType = config.torchDtype): number {
  let bytes = 0;
  for (const [name, shape] of modelTensorShapes(config)) {
    bytes += shapeSize(shape) * (name.endsWith(".bias") ? 4 : dtypeBytes(dtype));
  }
  return bytes;
}

/**
 * GPU memory of LoRA training: the weights, the backward's transposed copies of them, and every
 * buffer the trainer allocates.
 *
 * @example
 * ```ts
 * const config = parseModelConfig(JSON.parse(await Deno.readTextFile("model/config.json")));
 * const lora = resolveLoraConfig({ r: 16, targetModules: ["q_proj", "k_proj", "v_proj"] });
 * const est = estimateTraining(config, {
 *   lora,
 *   batchSize: 1,
 *   seqLen: 512,
 *   gradCheckpoint: true,
 *   optimizer: "adamw",
 * });
 * console.log(`${(est.total / 2 ** 30).toFixed(2)} GiB`);
 * ```
 */
export function estimateTraining(
  config: ModelConfig,
  settings: TrainingEstimateSettings,
): MemoryBreakdown {
  const plan = planTraining(config, settings.lora, {
    batchSize: settings.batchSize,
    seqLen: settings.seqLen,
    gradCheckpoint: settings.gradCheckpoint,
    maxBindingBytes: settings.maxBindingBytes ?? DEFAULT_BINDING,
    optimizerStates: settings.optimizer === "adamw" ? 2 : 0,
  });
  const dtype = settings.weightsDtype ?? config.torchDtype;
  const copies = planTransposedWeights(
    config,
    dtypeBytes(dtype),
    settings.transposedWeightsBytes ?? TRANSPOSED_WEIGHTS_BYTES,
  );
  return sum(weightBytes(config, dtype) + copies.bytes, planBuffers(plan));
}

/**
 * GPU memory of inference with a KV cache: the weights plus every buffer the model allocates,
 * and an adapter's tensors when one is applied unmerged.
 *
 * @example
 * ```ts
 * const config = parseModelConfig(JSON.parse(await Deno.readTextFile("model/config.json")));
 * const est = estimateInference(config, { maxContext: 2048 });
 * console.log(`KV cache ${est.kvCache} bytes of ${est.total}`);
 * ```
 */
export function estimateInference(
  config: ModelConfig,
  settings: InferenceEstimateSettings,
): MemoryBreakdown {
  const sizes = inferenceSizes(config, {
    ...settings,
    maxBindingBytes: settings.maxBindingBytes ?? DEFAULT_BINDING,
    loraRank: settings.lora?.r ?? 0, // the plan's (T, R) scratch of A·x
  });
  const specs = planBuffers(planInference(config, sizes));
  // The adapter's A (R, in) and B (out, R), as GpuLoraAdapter uploads them.
  const lora = settings.lora ? loraTensorShapes(config, settings.lora) : new Map();
  for (const [key, shape] of lora) specs.push(f32Spec(key, shape, "lora"));
  return sum(weightBytes(config, settings.weightsDtype), specs);
}

/**
 * The bytes a device's {@linkcode MemoryTracker} counts now, in the estimate's categories, so
 * that a measurement can be set beside an estimate.
 *
 * @example
 * ```ts
 * const model = await loadModel(dir, { gpu });
 * const measured = measuredBreakdown(gpu.memory.report());
 * const estimate = estimateInference(model.config, { maxContext: model.maxContext });
 * ```
 */
export function measuredBreakdown(report: MemoryReport): MemoryBreakdown {
  const b = emptyBreakdown();
  for (const [category, bytes] of Object.entries(report.byCategory)) add(b, category, bytes);
  return withTotal(b);
}

function sum(weights: number, specs: BufferSpec[]): MemoryBreakdown {
  const b = emptyBreakdown();
  b.weights = weights;
  b.workspace = UNIFORMS;
  for (const spec of specs) add(b, spec.category, specBytes(spec));
  return withTotal(b);
}

function emptyBreakdown(): MemoryBreakdown {
  return {
    weights: 0,
    lora: 0,
    gradients: 0,
    optimizer: 0,
    activations: 0,
    kvCache: 0,
    workspace: 0,
    total: 0,
  };
}

function add(b: MemoryBreakdown, category: string, bytes: number): void {
  const key = category === "kv-cache" ? "kvCache" : category;
  if (!(key in b) || key === "total") throw new Error(`Unknown memory category ${category}`);
  b[key as keyof MemoryBreakdown] += bytes;
}

function withTotal(b: MemoryBreakdown): MemoryBreakdown {
  b.total = b.weights + b.lora + b.gradients + b.optimizer + b.activations + b.kvCache +
    b.workspace;
  return b;
}

/**
 * GPU memory for batched serving (`BatchedModel`): the weights and the batch plan (a KV cache
 * of `maxBatch` sequences, one step's activations, `maxLoras` adapter slots of every
 * projection at `maxLoraRank`), summed from the same plan the engine allocates.
 *
 * @example
 * ```ts
 * const est = estimateBatchInference(config, {
 *   maxBatch: 16, stepTokens: 256, maxContext: 2048, kvCacheDtype: "f16", maxLoras: 4, maxLoraRank: 16,
 * });
 * console.log(`KV cache ${est.kvCache} bytes of ${est.total}`);
 * ```
 */
export function estimateBatchInference(
  config: ModelConfig,
  sizes: BatchSizes & { weightsDtype?: DType },
): MemoryBreakdown {
  return sum(weightBytes(config, sizes.weightsDtype), planBuffers(planBatch(config, sizes)));
}
