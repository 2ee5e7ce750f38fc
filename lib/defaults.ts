/**
 * Every default the library, the command-line programs and the server share, written once:
 * the inference engine's context and KV-cache dtype, and the LoRA and training settings, which
 * are those of the user's PEFT + Trainer script (`LoraConfig(r=16, lora_alpha=32,
 * lora_dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj"])`, 3 epochs, batch 1 × 4
 * accumulation, lr 1e-4, AdamW, linear schedule, max_length 512).
 *
 * @module
 */
import type { KvCacheDtype } from "./ops/rope.ts";

/**
 * The most KV-cache slots an engine gets by default (fewer when the model has fewer positions).
 *
 * @example
 * ```ts
 * const model = await loadModel(dir, { maxContext: 2 * DEFAULT_MAX_CONTEXT });
 * ```
 */
export const DEFAULT_MAX_CONTEXT = 2048;

/**
 * The KV cache's element type by default: full precision.
 *
 * @example
 * ```ts
 * const kvCacheDtype = flags["kv-cache"] ?? DEFAULT_KV_CACHE_DTYPE;
 * ```
 */
export const DEFAULT_KV_CACHE_DTYPE: KvCacheDtype = "f32";

/**
 * LoRA settings by default (PEFT's `LoraConfig` of the user's script).
 *
 * @example
 * ```ts
 * const lora = resolveLoraConfig({ r: 2 * LORA_DEFAULTS.r, alpha: 2 * LORA_DEFAULTS.alpha });
 * ```
 */
export const LORA_DEFAULTS = {
  /** Rank r. */
  r: 16,
  /** lora_alpha: the scale is alpha/r. */
  alpha: 32,
  /** Dropout on the adapter's input during training. */
  dropout: 0.1,
  /** The adapted projections. */
  targetModules: ["q_proj", "k_proj", "v_proj"],
  /** rsLoRA's alpha/√r scale. */
  useRslora: false,
} as const;

/**
 * Training settings by default (Hugging Face `Trainer`'s, as the user's script sets them).
 *
 * @example
 * ```ts
 * const { examples } = tokenizeExamples(tokenizer, data.train, {
 *   maxLength: TRAINING_DEFAULTS.maxLength,
 * });
 * ```
 */
export const TRAINING_DEFAULTS = {
  /** Passes over the data. */
  epochs: 3,
  /** Sequences per micro-batch. */
  batchSize: 1,
  /** Micro-batches per optimizer step. */
  gradAccum: 4,
  /** Peak learning rate. */
  lr: 1e-4,
  /** The optimizer. */
  optimizer: "adamw",
  /** Decoupled weight decay. */
  weightDecay: 0,
  /** AdamW's betas. */
  betas: [0.9, 0.999],
  /** AdamW's epsilon. */
  eps: 1e-8,
  /** The learning-rate schedule. */
  scheduler: "linear",
  /** Linear warmup steps. */
  warmupSteps: 0,
  /** Global-norm gradient clipping (0 disables it). */
  maxGradNorm: 1,
  /** Recompute each layer in backward instead of saving its activations. */
  gradCheckpoint: false,
  /** Seed of the adapter's initialisation, the data order, the dropout and the validation split. */
  seed: 42,
  /** Checkpoint every N steps; 0 checkpoints only at the end. */
  checkpointEvery: 0,
  /** Read the loss back every N steps. */
  logEvery: 1,
  /** The longest record in tokens; longer ones are truncated. */
  maxLength: 512,
  /** Which tokens are labels: the completion's, or all. */
  trainOn: "completion",
} as const;
