/**
 * The GPU memory plan of inference (llm.c's `fill_in_activation_sizes`): every buffer the
 * engine allocates, in named fields, sized from (config, context, chunk, adapter rank) in one
 * place. The engine allocates this plan and the memory estimator sums it, so estimate and
 * reality cannot drift apart.
 *
 * Dimensions: T tokens per forward chunk, S context (KV slots), D hidden, I intermediate,
 * H heads, KV kv heads, HD head dim, V vocab, L layers.
 *
 * @module
 */
import { DEFAULT_KV_CACHE_DTYPE } from "../defaults.ts";
import type { ModelConfig } from "./config.ts";
import { type BufferSpec, f32Spec } from "../gpu/buffer_plan.ts";
import { attentionScratchShape } from "../ops/attention.ts";
import type { KvCacheDtype } from "../ops/rope.ts";

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
  /** The largest rank of an adapter applied unmerged, for its A·x scratch; 0 for none. */
  loraRank?: number;
}

/** Tokens per prefill chunk unless the caller says otherwise. */
const DEFAULT_CHUNK_TOKENS = 256;

/**
 * The sizes of an inference run: the prefill chunk (`chunkTokens`, default 256, at most
 * maxContext), the rows of logits one LM-head pass produces (at most a chunk, and no more
 * than one binding of `maxBindingBytes` holds), and the adapter rank (default 0, none).
 */
export function inferenceSizes(
  config: ModelConfig,
  options: {
    maxContext: number;
    chunkTokens?: number;
    maxBindingBytes: number;
    kvCacheDtype?: KvCacheDtype;
    loraRank?: number;
  },
): InferenceSizes {
  const chunkTokens = Math.min(options.chunkTokens ?? DEFAULT_CHUNK_TOKENS, options.maxContext);
  const rowsPerBinding = Math.floor(options.maxBindingBytes / (config.vocabSize * 4));
  return {
    maxContext: options.maxContext,
    chunkTokens,
    logitRows: Math.max(1, Math.min(chunkTokens, rowsPerBinding)),
    kvCacheDtype: options.kvCacheDtype,
    loraRank: options.loraRank ?? 0,
  };
}

/** The buffers of one decoder layer's KV cache. */
export interface KvCachePlan {
  /** Keys after RoPE (S, KV·HD). */
  k: BufferSpec;
  /** Values (S, KV·HD). */
  v: BufferSpec;
}

/** Every buffer of inference (weights are planned by the loader, adapters by their own). */
export interface InferencePlan {
  /** Token ids of the chunk (T), u32. */
  ids: BufferSpec;
  /** Residual stream (T, D). */
  x: BufferSpec;
  /** RMSNorm output (T, D), for chunks longer than a decode step. */
  norm: BufferSpec;
  /** 1/rms per row (T). */
  rstd: BufferSpec;
  /** Queries (T, H·HD). */
  q: BufferSpec;
  /** The chunk's keys (T, KV·HD) before RoPE and the cache append. */
  kNew: BufferSpec;
  /** The chunk's values (T, KV·HD) before the cache append. */
  vNew: BufferSpec;
  /** Attention output (T, H·HD). */
  attn: BufferSpec;
  /** Log-sum-exp of each query's scores (H, T). */
  lse: BufferSpec;
  /** Gate projection (T, I). */
  gate: BufferSpec;
  /** Up projection (T, I). */
  up: BufferSpec;
  /** silu(gate)·up (T, I), for chunks longer than a decode step. */
  hidden: BufferSpec;
  /** Logits of one LM-head pass (logitRows, V). */
  logits: BufferSpec;
  /** Ids in the context (V), u32, for the repetition penalty. */
  seen: BufferSpec;
  /** Sampled ids of a chained decode (MAX_CHAINED_STEPS), u32. */
  sampled: BufferSpec;
  /** RoPE tables (S, HD/2) each. */
  rope: { cos: BufferSpec; sin: BufferSpec };
  /** Split-decode partials (8/G or 1 tokens, H, NC chunks, HD + 2). */
  attnPartials: BufferSpec;
  /** A·x of an adapted projection (T, R), when an adapter of rank R > 0 is planned. */
  loraU?: BufferSpec;
  /**
   * q (T, H·HD) and k (T, KV·HD) before their per-head norms, and the norms' 1/rms (T·H), when
   * the model has them (Qwen3).
   */
  qkNorm?: { qRaw: BufferSpec; kRaw: BufferSpec; rstd: BufferSpec };
  /** The KV cache, one entry per layer. */
  kvCache: KvCachePlan[];
}

/** Every buffer of inference with these sizes. */
export function planInference(config: ModelConfig, sizes: InferenceSizes): InferencePlan {
  const { maxContext: S, chunkTokens: T, logitRows } = sizes;
  const D = config.hiddenSize, I = config.intermediateSize, V = config.vocabSize;
  const q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim;
  const act = (name: string, shape: number[]) => f32Spec(name, shape, "activations");
  const kvDtype = sizes.kvCacheDtype ?? DEFAULT_KV_CACHE_DTYPE;
  const R = sizes.loraRank ?? 0;
  return {
    ids: { name: "ids", shape: [T], dtype: "u32", category: "activations" },
    x: act("x", [T, D]),
    norm: act("norm", [T, D]),
    rstd: act("rstd", [T]),
    q: act("q", [T, q]),
    kNew: act("k.new", [T, kv]),
    vNew: act("v.new", [T, kv]),
    attn: act("attn", [T, q]),
    lse: act("lse", [config.numHeads, T]),
    gate: act("gate", [T, I]),
    up: act("up", [T, I]),
    hidden: act("hidden", [T, I]),
    logits: act("logits", [logitRows, V]),
    seen: { name: "seen", shape: [V], dtype: "u32", category: "activations" },
    sampled: { name: "sampled", shape: [MAX_CHAINED_STEPS], dtype: "u32", category: "activations" },
    rope: {
      cos: f32Spec("rope.cos", [S, config.headDim / 2], "workspace"),
      sin: f32Spec("rope.sin", [S, config.headDim / 2], "workspace"),
    },
    attnPartials: f32Spec(
      "attn.partials",
      attentionScratchShape({
        heads: config.numHeads,
        kvHeads: config.numKvHeads,
        headDim: config.headDim,
        maxContext: S,
      }),
      "workspace",
    ),
    ...(R > 0 ? { loraU: act("lora.u", [T, R]) } : {}),
    ...(config.qkNorm
      ? {
        qkNorm: {
          qRaw: act("q.raw", [T, q]),
          kRaw: act("k.raw", [T, kv]),
          rstd: act("qk.rstd", [T * config.numHeads]),
        },
      }
      : {}),
    kvCache: Array.from({ length: config.numLayers }, (_, l) => ({
      k: { name: `k.${l}`, shape: [S, kv], dtype: kvDtype, category: "kv-cache" },
      v: { name: `v.${l}`, shape: [S, kv], dtype: kvDtype, category: "kv-cache" },
    })),
  };
}
