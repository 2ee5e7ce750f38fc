/**
 * The GPU memory plan (llm.c's `fill_in_activation_sizes`): every buffer the engine allocates
 * for inference, sized from (config, context, chunk) in one place. The model allocates from
 * this plan and the memory estimator sums it, so estimate and reality cannot drift apart.
 *
 * Dimensions: T tokens per forward chunk, S context (KV slots), D hidden, I intermediate,
 * H heads, KV kv heads, HD head dim, V vocab, L layers.
 *
 * @module
 */
import { DEFAULT_KV_CACHE_DTYPE } from "../defaults.ts";
import type { ModelConfig } from "./config.ts";
import { type GpuDType, gpuDTypeBytes } from "../gpu/tensor.ts";
import { shapeSize } from "../format/safetensors.ts";
import { attentionScratchShape } from "../ops/attention.ts";
import type { KvCacheDtype } from "../ops/rope.ts";

/** One planned buffer. */
export interface BufferSpec {
  /** Role of the buffer. */
  name: string;
  /** Dimensions. */
  shape: number[];
  /** Element type. */
  dtype: GpuDType;
  /** Accounting category. */
  category:
    | "weights"
    | "activations"
    | "kv-cache"
    | "lora"
    | "gradients"
    | "optimizer"
    | "workspace";
}

/** Decode steps chained in one submit at most (one readback per chain). */
export const MAX_CHAINED_STEPS = 16;

/** Sizes that shape the inference buffers. */
export interface InferenceSizes {
  /** KV-cache slots: the longest prompt + completion. */
  maxContext: number;
  /** Tokens per forward chunk (prefill runs in chunks of this many). */
  chunkTokens: number;
  /** Rows of logits produced per LM-head pass. */
  logitRows: number;
  /** Element type of the KV cache; default f32 (f16 halves it). */
  kvCacheDtype?: KvCacheDtype;
}

/** Tokens per prefill chunk unless the caller says otherwise. */
const DEFAULT_CHUNK_TOKENS = 256;

/**
 * The sizes of an inference run: the prefill chunk (`chunkTokens`, default 256, at most
 * maxContext) and the rows of logits one LM-head pass produces (at most a chunk, and no more
 * than one binding of `maxBindingBytes` holds).
 */
export function inferenceSizes(
  config: ModelConfig,
  options: {
    maxContext: number;
    chunkTokens?: number;
    maxBindingBytes: number;
    kvCacheDtype?: KvCacheDtype;
  },
): InferenceSizes {
  const chunkTokens = Math.min(options.chunkTokens ?? DEFAULT_CHUNK_TOKENS, options.maxContext);
  const rowsPerBinding = Math.floor(options.maxBindingBytes / (config.vocabSize * 4));
  return {
    maxContext: options.maxContext,
    chunkTokens,
    logitRows: Math.max(1, Math.min(chunkTokens, rowsPerBinding)),
    kvCacheDtype: options.kvCacheDtype,
  };
}

/** The activation, cache and table buffers of inference (weights are planned by the loader). */
export function planInference(config: ModelConfig, sizes: InferenceSizes): BufferSpec[] {
  const { maxContext: S, chunkTokens: T, logitRows } = sizes;
  const D = config.hiddenSize, I = config.intermediateSize, V = config.vocabSize;
  const q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim;
  const act = (name: string, shape: number[]): BufferSpec => ({
    name,
    shape,
    dtype: "f32",
    category: "activations",
  });
  const specs: BufferSpec[] = [
    { name: "ids", shape: [T], dtype: "u32", category: "activations" },
    act("x", [T, D]), // residual stream
    act("norm", [T, D]), // RMSNorm output, for chunks longer than a decode step
    act("rstd", [T]),
    act("q", [T, q]),
    act("k.new", [T, kv]), // the chunk's keys and values before RoPE and the cache append
    act("v.new", [T, kv]),
    act("attn", [T, q]), // attention output
    act("lse", [config.numHeads, T]),
    act("gate", [T, I]),
    act("up", [T, I]),
    act("hidden", [T, I]), // silu(gate) · up, for chunks longer than a decode step
    act("logits", [logitRows, V]),
    { name: "seen", shape: [V], dtype: "u32", category: "activations" }, // ids in the context, for the penalty
    { name: "sampled", shape: [MAX_CHAINED_STEPS], dtype: "u32", category: "activations" },
    { name: "rope.cos", shape: [S, config.headDim / 2], dtype: "f32", category: "workspace" },
    { name: "rope.sin", shape: [S, config.headDim / 2], dtype: "f32", category: "workspace" },
    {
      name: "attn.partials", // (8/G or 1 tokens, H, NC chunks, HD + 2): split decode partials
      shape: attentionScratchShape({
        heads: config.numHeads,
        kvHeads: config.numKvHeads,
        headDim: config.headDim,
        maxContext: S,
      }),
      dtype: "f32",
      category: "workspace",
    },
  ];
  for (let l = 0; l < config.numLayers; l++) {
    const dtype = sizes.kvCacheDtype ?? DEFAULT_KV_CACHE_DTYPE;
    specs.push({ name: `k.${l}`, shape: [S, kv], dtype, category: "kv-cache" });
    specs.push({ name: `v.${l}`, shape: [S, kv], dtype, category: "kv-cache" });
  }
  return specs;
}

/** Bytes of a planned buffer (16-bit types packed two per word, rounded up to 4 bytes). */
export function specBytes(spec: BufferSpec): number {
  return Math.max(4, Math.ceil((shapeSize(spec.shape) * gpuDTypeBytes(spec.dtype)) / 4) * 4);
}
