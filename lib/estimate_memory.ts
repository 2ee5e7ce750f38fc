/**
 * GPU memory estimates for training and inference, summed from the same plans that allocate
 * the real buffers (`planInference`, `planTraining`), so estimate and reality cannot drift.
 *
 * @module
 */
import type { DType } from "./dtype.ts";
import { dtypeBytes } from "./dtype.ts";
import { type LlamaConfig, llamaTensorShapes } from "./llama_config.ts";
import type { LoraConfig } from "./lora/lora_config.ts";
import { type BufferSpec, planInference, specBytes } from "./model/plan.ts";
import { planTraining } from "./train/train_plan.ts";

/** Bytes by category. */
export interface MemoryBreakdown {
  /** Base weights in their stored dtype. */
  weights: number;
  /** LoRA A and B. */
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
}

/** Settings of an inference estimate. */
export interface InferenceEstimateSettings {
  /** KV-cache slots. */
  maxContext: number;
  /** Prefill chunk. Default 256. */
  chunkTokens?: number;
  /** Rank of an adapter applied unmerged (0 for none). */
  loraRank?: number;
  /** Binding limit; default 128 MiB. */
  maxBindingBytes?: number;
}

/** Uniform buffer of a recorder (256 B a dispatch, grown by doubling from 16 KiB). */
const UNIFORMS = 64 * 256;
const DEFAULT_BINDING = 128 * 2 ** 20;

/** Bytes of the base weights, tied embeddings once, in `dtype` (default: the config's). */
export function weightBytes(config: LlamaConfig, dtype: DType = config.torchDtype): number {
  let n = 0;
  for (const shape of llamaTensorShapes(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n * dtypeBytes(dtype);
}

/** GPU memory of LoRA training. */
export function estimateTraining(config: LlamaConfig, settings: TrainingEstimateSettings): MemoryBreakdown {
  const specs = planTraining(config, settings.lora, {
    batchSize: settings.batchSize,
    seqLen: settings.seqLen,
    gradCheckpoint: settings.gradCheckpoint,
    maxBindingBytes: settings.maxBindingBytes ?? DEFAULT_BINDING,
    optimizerStates: settings.optimizer === "adamw" ? 2 : 0,
  });
  return sum(config, specs, UNIFORMS);
}

/** GPU memory of inference with a KV cache. */
export function estimateInference(config: LlamaConfig, settings: InferenceEstimateSettings): MemoryBreakdown {
  const chunkTokens = Math.min(settings.chunkTokens ?? 256, settings.maxContext);
  const binding = settings.maxBindingBytes ?? DEFAULT_BINDING;
  const logitRows = Math.max(1, Math.min(chunkTokens, Math.floor(binding / (config.vocabSize * 4))));
  const specs = planInference(config, { maxContext: settings.maxContext, chunkTokens, logitRows });
  if (settings.loraRank) {
    specs.push({ name: "lora.u", shape: [chunkTokens, settings.loraRank], dtype: "f32", category: "activations" });
  }
  return sum(config, specs, UNIFORMS);
}

function sum(config: LlamaConfig, specs: BufferSpec[], uniforms: number): MemoryBreakdown {
  const b: MemoryBreakdown = {
    weights: weightBytes(config),
    lora: 0,
    gradients: 0,
    optimizer: 0,
    activations: 0,
    kvCache: 0,
    workspace: uniforms,
    total: 0,
  };
  for (const spec of specs) {
    const bytes = specBytes(spec);
    if (spec.category === "kv-cache") b.kvCache += bytes;
    else if (spec.category === "weights") b.weights += bytes;
    else b[spec.category] += bytes;
  }
  b.total = b.weights + b.lora + b.gradients + b.optimizer + b.activations + b.kvCache + b.workspace;
  return b;
}
