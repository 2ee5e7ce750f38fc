/**
 * The GPU memory plans of LoRA training and of forward-only evaluation, in named fields:
 * saved activations (per layer, or one shared set when gradient checkpointing recomputes each
 * layer in backward), gradient workspace, LoRA parameters, gradients and optimizer state, and
 * the vocabulary-chunked loss workspace. The trainer and the evaluator allocate exactly these
 * plans; the estimator sums them.
 *
 * Dimensions: B sequences per micro-batch, T tokens per sequence, N = B·T rows, D hidden,
 * I intermediate, H heads, KV kv heads, HD head dim, V vocab, VC vocab chunk, R rank, L layers.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import type { LoraConfig } from "../lora/lora_config.ts";
import { loraTensorShapes } from "../lora/lora_weights.ts";
import type { Projection } from "../model/names.ts";
import { type BufferSpec, f32Spec } from "../gpu/buffer_plan.ts";

/** The sizes that shape training buffers. */
export interface TrainingSizes {
  /** Sequences per micro-batch (B). */
  batchSize: number;
  /** Longest sequence (T). */
  seqLen: number;
  /** Recompute each layer in backward instead of saving its activations. */
  gradCheckpoint: boolean;
  /** Largest binding in bytes; bounds the logits chunk. */
  maxBindingBytes: number;
  /** Keep all (N, V) logits when they fit (`vocabChunkRows`); default true. */
  keepLogits?: boolean;
  /** The optimizer's state tensors per parameter (AdamW 2, SGD 0). */
  optimizerStates: number;
}

/** The sizes of a forward-only pass. */
export type ForwardSizes = Pick<
  TrainingSizes,
  "batchSize" | "seqLen" | "maxBindingBytes" | "keepLogits"
>;

/** What one decoder layer's forward saves (for backward, or for the next op). */
export interface LayerActivationsPlan {
  /** rmsnorm(x) (N, D). */
  n1: BufferSpec;
  /** 1/rms of x per row (N). */
  rstd1: BufferSpec;
  /** Queries after RoPE (N, H·HD). */
  q: BufferSpec;
  /** Keys after RoPE (N, KV·HD). */
  k: BufferSpec;
  /** Values (N, KV·HD). */
  v: BufferSpec;
  /** Attention output (N, H·HD). */
  attn: BufferSpec;
  /** Log-sum-exp of each query's scores (B, H, T). */
  lse: BufferSpec;
  /** x + attention (N, D). */
  xmid: BufferSpec;
  /** rmsnorm(xmid) (N, D). */
  n2: BufferSpec;
  /** 1/rms of xmid per row (N). */
  rstd2: BufferSpec;
  /** Gate projection (N, I). */
  gate: BufferSpec;
  /** Up projection (N, I). */
  up: BufferSpec;
  /** silu(gate)·up (N, I). */
  hidden: BufferSpec;
  /** u = dropout(x)·Aᵀ (N, R) of each adapted projection. */
  u: Partial<Record<Projection, BufferSpec>>;
  /** q and k before their per-head norms, and the norms' 1/rms (Qwen3), when the model has them. */
  qkNorm?: QkNormPlan;
}

/** What the per-head q/k norms (Qwen3) save for backward. */
export interface QkNormPlan {
  /** The q projection (N, H·HD), before its norm. */
  qRaw: BufferSpec;
  /** The k projection (N, KV·HD), before its norm. */
  kRaw: BufferSpec;
  /** 1/rms of each head of q (N·H). */
  rstdQ: BufferSpec;
  /** 1/rms of each head of k (N·KV). */
  rstdK: BufferSpec;
}

/** The vocabulary-chunked loss workspace. */
export interface LossPlan {
  /** rmsnorm(x_L) (N, D). */
  finalNorm: BufferSpec;
  /** 1/rms of x_L per row (N). */
  finalRstd: BufferSpec;
  /** One vocabulary chunk of logits (N, VC). */
  logits: BufferSpec;
  /** Per-row running max, Σexp, target logit and loss (N, 4). */
  stats: BufferSpec;
  /** Running loss totals (2): training, forward-only. */
  sum: BufferSpec;
}

/** What a forward pass with the loss needs: the evaluator's whole plan. */
export interface ForwardPlan {
  /** Token ids (N), u32. */
  ids: BufferSpec;
  /** Next-token targets (N), i32, −100 where ignored. */
  targets: BufferSpec;
  /** RoPE tables (T, HD/2) each. */
  rope: { cos: BufferSpec; sin: BufferSpec };
  /**
   * The residual stream (N, D) entering each layer and leaving the last (L + 1 for training);
   * a forward-only pass alternates between two.
   */
  residual: BufferSpec[];
  /** Saved activations: one set per layer, or one shared set (checkpointing, evaluation). */
  layers: LayerActivationsPlan[];
  /** The loss workspace. */
  loss: LossPlan;
}

/** The gradient workspace of backward, reused by every layer. */
export interface GradientPlan {
  /** d residual stream (N, D). */
  x: BufferSpec;
  /** d norm output (N, D). */
  n: BufferSpec;
  /** d queries (N, H·HD). */
  q: BufferSpec;
  /** d keys (N, KV·HD). */
  k: BufferSpec;
  /** d values (N, KV·HD). */
  v: BufferSpec;
  /** d attention output (N, H·HD). */
  attn: BufferSpec;
  /** Row sums of dOut·out (B, H, T). */
  delta: BufferSpec;
  /** d gate (N, I). */
  gate: BufferSpec;
  /** d up (N, I). */
  up: BufferSpec;
  /** d hidden (N, I). */
  hidden: BufferSpec;
  /** d(A·x) (N, R). */
  u: BufferSpec;
  /** d of q or k before its per-head norm (N, H·HD), when the model has them (Qwen3). */
  qkRaw?: BufferSpec;
}

/** One LoRA matrix's parameter, gradient and optimizer states (its shape each). */
export interface ParameterPlan {
  /** PEFT key. */
  key: string;
  /** Values. */
  param: BufferSpec;
  /** Accumulated gradient. */
  grad: BufferSpec;
  /** Optimizer state (AdamW: m, v; SGD: none). */
  states: BufferSpec[];
}

/** Every buffer of a training run. */
export interface TrainingPlan extends ForwardPlan {
  /** The gradient workspace. */
  grads: GradientPlan;
  /** dropout(x), or dU·A before masking (N, max(D, I, H·HD)). */
  loraScratch: BufferSpec;
  /** Global gradient norm: Σg² (1) and the clip scale (1). */
  gradNorm: { sumSq: BufferSpec; scale: BufferSpec };
  /** The adapter's matrices, in layer order, A before B. */
  parameters: ParameterPlan[];
}

/**
 * Most bytes of (N, V) f32 logits a micro-step keeps from its forward for its backward, which
 * then does not recompute them (`lm_head_loss.ts`): 64 MiB holds Llama 3's 128,256-token
 * vocabulary for 128 rows.
 */
export const KEPT_LOGITS_BYTES = 64 << 20;

/**
 * Columns of the loss's logits buffer: the whole vocabulary when (N, V) fits in one binding and
 * in {@linkcode KEPT_LOGITS_BYTES} and `keepLogits` is not false (the logits are kept), else one
 * chunk of the vocabulary.
 */
export function vocabChunkRows(config: ModelConfig, sizes: ForwardSizes): number {
  const rows = sizes.batchSize * sizes.seqLen;
  const whole = rows * config.vocabSize * 4;
  const fits = whole <= Math.min(sizes.maxBindingBytes, KEPT_LOGITS_BYTES);
  if (fits && sizes.keepLogits !== false) return config.vocabSize;
  const byBinding = Math.floor(sizes.maxBindingBytes / (rows * 4));
  return Math.max(1, Math.min(config.vocabSize, byBinding, 32768));
}

/** Every buffer of a training run. */
export function planTraining(
  config: ModelConfig,
  lora: LoraConfig,
  sizes: TrainingSizes,
): TrainingPlan {
  const N = sizes.batchSize * sizes.seqLen;
  const D = config.hiddenSize, I = config.intermediateSize, R = lora.r;
  const q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim;
  const layers = sizes.gradCheckpoint ? 1 : config.numLayers;
  const ws = (name: string, shape: number[]) => f32Spec(`grad.${name}`, shape, "workspace");
  const bhT = [sizes.batchSize, config.numHeads, sizes.seqLen];
  return {
    ...planForward(config, lora, sizes, { residuals: config.numLayers + 1, layers }),
    grads: {
      x: ws("x", [N, D]),
      n: ws("n", [N, D]),
      q: ws("q", [N, q]),
      k: ws("k", [N, kv]),
      v: ws("v", [N, kv]),
      attn: ws("attn", [N, q]),
      delta: ws("delta", bhT),
      gate: ws("gate", [N, I]),
      up: ws("up", [N, I]),
      hidden: ws("hidden", [N, I]),
      u: ws("u", [N, R]),
      ...(config.qkNorm ? { qkRaw: ws("qk.raw", [N, q]) } : {}),
    },
    loraScratch: f32Spec("lora.scratch", [N, Math.max(D, I, q)], "workspace"),
    gradNorm: { sumSq: ws("sumsq", [1]), scale: ws("scale", [1]) },
    parameters: [...loraTensorShapes(config, lora)].map(([key, shape]) => ({
      key,
      param: f32Spec(`param:${key}`, shape, "lora"),
      grad: f32Spec(`grad:${key}`, shape, "gradients"),
      states: Array.from(
        { length: sizes.optimizerStates },
        (_, s) => f32Spec(`opt${s}:${key}`, shape, "optimizer"),
      ),
    })),
  };
}

/**
 * The buffers of a forward-only loss pass (evaluation) with an adapter `lora` applied, or
 * none: two residual buffers and one set of layer activations, whatever the depth.
 */
export function planEvaluation(
  config: ModelConfig,
  lora: LoraConfig | null,
  sizes: ForwardSizes,
): ForwardPlan {
  return planForward(config, lora, sizes, { residuals: 2, layers: 1 });
}

function planForward(
  config: ModelConfig,
  lora: LoraConfig | null,
  sizes: ForwardSizes,
  count: { residuals: number; layers: number },
): ForwardPlan {
  const N = sizes.batchSize * sizes.seqLen, B = sizes.batchSize, T = sizes.seqLen;
  const D = config.hiddenSize, I = config.intermediateSize;
  const q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim;
  const act = (name: string, shape: number[]) => f32Spec(name, shape, "activations");
  const layer = (p: string): LayerActivationsPlan => ({
    n1: act(`${p}.n1`, [N, D]),
    rstd1: act(`${p}.rstd1`, [N]),
    q: act(`${p}.q`, [N, q]),
    k: act(`${p}.k`, [N, kv]),
    v: act(`${p}.v`, [N, kv]),
    attn: act(`${p}.attn`, [N, q]),
    lse: act(`${p}.lse`, [B, config.numHeads, T]),
    xmid: act(`${p}.xmid`, [N, D]),
    n2: act(`${p}.n2`, [N, D]),
    rstd2: act(`${p}.rstd2`, [N]),
    gate: act(`${p}.gate`, [N, I]),
    up: act(`${p}.up`, [N, I]),
    hidden: act(`${p}.hidden`, [N, I]),
    u: Object.fromEntries(
      (lora?.targetModules ?? []).map((t) => [t, act(`${p}.u.${t}`, [N, lora!.r])]),
    ),
    ...(config.qkNorm
      ? {
        qkNorm: {
          qRaw: act(`${p}.q.raw`, [N, q]),
          kRaw: act(`${p}.k.raw`, [N, kv]),
          rstdQ: act(`${p}.q.rstd`, [N * config.numHeads]),
          rstdK: act(`${p}.k.rstd`, [N * config.numKvHeads]),
        },
      }
      : {}),
  });
  const shared = count.layers === 1 && config.numLayers > 1;
  return {
    ids: { name: "ids", shape: [N], dtype: "u32", category: "activations" },
    targets: { name: "targets", shape: [N], dtype: "i32", category: "activations" },
    rope: {
      cos: f32Spec("rope.cos", [T, config.headDim / 2], "workspace"),
      sin: f32Spec("rope.sin", [T, config.headDim / 2], "workspace"),
    },
    residual: Array.from({ length: count.residuals }, (_, l) => act(`x.${l}`, [N, D])),
    layers: Array.from(
      { length: count.layers },
      (_, l) => layer(shared ? "act.shared" : `act.${l}`),
    ),
    loss: {
      finalNorm: act("final.n", [N, D]),
      finalRstd: act("final.rstd", [N]),
      logits: f32Spec("logits", [N, vocabChunkRows(config, sizes)], "workspace"),
      stats: f32Spec("ce.stats", [N, 4], "workspace"),
      sum: f32Spec("loss.sum", [2], "workspace"),
    },
  };
}
