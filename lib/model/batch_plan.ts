/**
 * The GPU memory plan of batched decoding (`GpuBatchEngine`): the activations of one batch
 * step of N token rows (prefill chunks and decode tokens of several sequences together), a
 * KV cache of one slot per sequence, per-row tables, and the stacked adapters of every
 * projection for the BGMV kernels. The engine allocates exactly this plan and the memory
 * estimator sums it.
 *
 * Dimensions: N token rows per step, B sequences (cache slots), S context per sequence,
 * D hidden, I intermediate, H heads, KV kv heads, HD head dim, V vocab, L layers, NS adapter
 * slots, R their padded rank, IN / OUT a projection's features, W words of a logprobs record.
 *
 * @module
 */
import type { ModelConfig } from "./config.ts";
import { type BufferSpec, f32Spec } from "../gpu/buffer_plan.ts";
import type { KvCacheDtype } from "../ops/rope.ts";
import {
  type InferencePlan,
  type KvCachePlan,
  MAX_CHAINED_STEPS,
  planInference,
} from "./inference_plan.ts";
import { type Projection, PROJECTIONS } from "./names.ts";
import { projectionFeatures } from "./shapes.ts";
import { LOGPROB_RECORD_WORDS } from "../ops/logprobs.ts";

/** Sizes that shape the batch buffers. */
export interface BatchSizes {
  /** B: sequences decoded together, one KV-cache slot each. */
  maxBatch: number;
  /** N: token rows of one step (decode tokens plus prefill chunks), at least B. */
  stepTokens: number;
  /** S: KV-cache rows per sequence (prompt + completion). */
  maxContext: number;
  /** Element type of the KV cache. */
  kvCacheDtype: KvCacheDtype;
  /** NS: adapters resident at once (0: no LoRA buffers). */
  maxLoras: number;
  /** R: the largest adapter rank; smaller ranks are zero-padded to it. */
  maxLoraRank: number;
}

/** The stacked A and B of one projection over the adapter slots. */
export interface LoraStackPlan {
  /** A of every slot (NS, R, IN). */
  a: BufferSpec;
  /** B of every slot (NS, OUT, R). */
  b: BufferSpec;
}

/** The buffers of the stacked adapters. */
export interface BatchLoraPlan {
  /** Each row's adapter slot (N), i32, −1 for none. */
  adapterIndex: BufferSpec;
  /** Scale of each slot (NS). */
  scale: BufferSpec;
  /** u = x·Aᵀ of each row (N, R). */
  u: BufferSpec;
  /** Per layer, per projection. */
  stacks: Record<Projection, LoraStackPlan>[];
}

/** Every buffer of batched decoding. */
export interface BatchPlan extends
  Pick<
    InferencePlan,
    | "ids"
    | "x"
    | "norm"
    | "rstd"
    | "q"
    | "kNew"
    | "vNew"
    | "attn"
    | "lse"
    | "gate"
    | "up"
    | "hidden"
    | "rope"
    | "qkNorm"
  > {
  /** (slot, position) of each row (N, 2), u32. */
  rowTable: BufferSpec;
  /** Rows whose logits are needed (B), u32: the last row of each sequence in the step. */
  logitRows: BufferSpec;
  /** Those rows of x gathered (B, D). */
  xLast: BufferSpec;
  /** Their logits (B, V). */
  logits: BufferSpec;
  /** Ids in each sequence's context (B, V), u32, for the repetition penalty. */
  seen: BufferSpec;
  /**
   * What a step reads back (MAX_CHAINED_STEPS, B, 1 + W), u32: the ids sampled in a chain of
   * steps (or the scored prompt ids), then one logprobs record of W words per id.
   */
  sampled: BufferSpec;
  /** The KV cache, per layer (B, S, KV·HD). */
  kvCache: KvCachePlan[];
  /** One slot's keys or values (S, KV·HD), through which a prefix is copied between slots. */
  kvScratch: BufferSpec;
  /** The stacked adapters, when maxLoras > 0. */
  lora?: BatchLoraPlan;
}

/** Every buffer of batched decoding with these sizes. */
export function planBatch(config: ModelConfig, sizes: BatchSizes): BatchPlan {
  const { maxBatch: B, stepTokens: N, maxContext: S, maxLoras: NS, maxLoraRank: R } = sizes;
  if (!(Number.isInteger(B) && B >= 1)) throw new RangeError(`maxBatch must be ≥ 1, got ${B}`);
  if (!(Number.isInteger(N) && N >= B)) {
    throw new RangeError(`stepTokens ${N} must be an integer ≥ maxBatch ${B}`);
  }
  if (NS > 0 && !(Number.isInteger(R) && R >= 1)) {
    throw new RangeError(`maxLoraRank must be ≥ 1 with adapters, got ${R}`);
  }
  const single = planInference(config, {
    maxContext: S,
    chunkTokens: N,
    logitRows: B,
    kvCacheDtype: sizes.kvCacheDtype,
  });
  const { ids, x, norm, rstd, q, kNew, vNew, attn, lse, gate, up, hidden, rope, qkNorm } = single;
  const D = config.hiddenSize, V = config.vocabSize;
  const kv = config.numKvHeads * config.headDim, dtype = sizes.kvCacheDtype;
  const u32 = (name: string, shape: number[]): BufferSpec => ({
    name,
    shape,
    dtype: "u32",
    category: "activations",
  });
  return {
    ids,
    x,
    norm,
    rstd,
    q,
    kNew,
    vNew,
    attn,
    lse,
    gate,
    up,
    hidden,
    rope,
    ...(qkNorm ? { qkNorm } : {}),
    rowTable: u32("row.table", [N, 2]),
    logitRows: u32("logit.rows", [B]),
    xLast: f32Spec("x.last", [B, D], "activations"),
    logits: f32Spec("logits", [B, V], "activations"),
    seen: u32("seen", [B, V]),
    sampled: u32("sampled", [MAX_CHAINED_STEPS, B, 1 + LOGPROB_RECORD_WORDS]),
    kvScratch: { name: "kv.scratch", shape: [S, kv], dtype, category: "kv-cache" },
    kvCache: Array.from({ length: config.numLayers }, (_, l) => ({
      k: { name: `k.${l}`, shape: [B, S, kv], dtype, category: "kv-cache" },
      v: { name: `v.${l}`, shape: [B, S, kv], dtype, category: "kv-cache" },
    })),
    ...(NS > 0 ? { lora: planLoraStacks(config, N, NS, R) } : {}),
  };
}

/** The stacked adapters of every projection of every layer. */
function planLoraStacks(config: ModelConfig, N: number, NS: number, R: number): BatchLoraPlan {
  const stack = (l: number, p: Projection): LoraStackPlan => {
    const { inFeatures: IN, outFeatures: OUT } = projectionFeatures(config, p);
    return {
      a: f32Spec(`lora.${l}.${p}.A`, [NS, R, IN], "lora"),
      b: f32Spec(`lora.${l}.${p}.B`, [NS, OUT, R], "lora"),
    };
  };
  return {
    adapterIndex: { name: "lora.slots", shape: [N], dtype: "i32", category: "activations" },
    scale: f32Spec("lora.scale", [NS], "lora"),
    u: f32Spec("lora.u", [N, R], "activations"),
    stacks: Array.from(
      { length: config.numLayers },
      (_, l) =>
        Object.fromEntries(PROJECTIONS.map((p) => [p, stack(l, p)])) as Record<
          Projection,
          LoraStackPlan
        >,
    ),
  };
}
