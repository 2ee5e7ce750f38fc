/**
 * The model configuration: a Hugging Face `config.json`, validated and turned into the numbers
 * and architecture features the engine uses (the features come from the family table in
 * `architecture.ts`; the tensor names and shapes they imply are in `shapes.ts`).
 *
 * Dimensions: L layers, D hidden, I intermediate, H heads, KV kv heads, HD head dim, V vocab.
 *
 * @module
 */
import type { DType } from "../format/dtype.ts";
import { z } from "../deps.ts";
import { architectureOf, type ArchitectureSpec, type ModelFamily } from "./architecture.ts";
import type { Projection } from "./names.ts";

/** llama3 RoPE frequency scaling (`rope_scaling` with `rope_type: "llama3"`). */
export interface RopeScalingLlama3 {
  /** `factor`: long wavelengths are divided by it (32 for Llama 3.2). */
  factor: number;
  /** `low_freq_factor` (1 for Llama 3.2). */
  lowFreqFactor: number;
  /** `high_freq_factor` (4 for Llama 3.2). */
  highFreqFactor: number;
  /** `original_max_position_embeddings` (8192 for Llama 3.2). */
  originalMaxPositionEmbeddings: number;
}

/** A validated configuration: sizes, architecture features, RoPE, tokens and dtype. */
export interface ModelConfig {
  /** The family (`architectures` / `model_type`), see `architecture.ts`. */
  family: ModelFamily;
  /** Projections whose checkpoint holds a bias (out features); none for Llama. */
  biasedProjections: readonly Projection[];
  /** Whether q and k get an RMSNorm per head (weight HD) after projection, before RoPE. */
  qkNorm: boolean;
  /** D, `hidden_size`. */
  hiddenSize: number;
  /** I, `intermediate_size`. */
  intermediateSize: number;
  /** L, `num_hidden_layers`. */
  numLayers: number;
  /** H, `num_attention_heads`. */
  numHeads: number;
  /** KV, `num_key_value_heads` (defaults to H). */
  numKvHeads: number;
  /** HD, `head_dim` (defaults to D / H). */
  headDim: number;
  /** V, `vocab_size`. */
  vocabSize: number;
  /** `rms_norm_eps`. */
  rmsNormEps: number;
  /** `rope_theta`. */
  ropeTheta: number;
  /** llama3 scaling, or null for plain RoPE. */
  ropeScaling: RopeScalingLlama3 | null;
  /** Whether `lm_head` reuses `embed_tokens` (`tie_word_embeddings`). */
  tieWordEmbeddings: boolean;
  /** `max_position_embeddings`. */
  maxPositionEmbeddings: number;
  /** `bos_token_id`, or null when the config sets none. */
  bosTokenId: number | null;
  /** `eos_token_id` as a list (empty when null). */
  eosTokenIds: number[];
  /** The checkpoint's dtype (`torch_dtype`, or the newer `dtype`). */
  torchDtype: DType;
  /** A copy of the original JSON, to write back on export. */
  raw: Record<string, unknown>;
}

const positiveInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative();

/** The fields read from `config.json`; others are kept in `raw` and ignored. */
const configSchema = z.looseObject({
  hidden_act: z.string().default("silu"),
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullish(),
  head_dim: positiveInt.nullish(),
  vocab_size: positiveInt,
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: z.looseObject({}).nullish(),
  rope_parameters: z.looseObject({ rope_theta: z.number().positive().optional() }).nullish(),
  tie_word_embeddings: z.boolean().default(false),
  max_position_embeddings: positiveInt.default(2048),
  bos_token_id: tokenId.nullable().default(1),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullable().default(2),
  torch_dtype: z.string().nullish(),
  dtype: z.string().nullish(),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
});

const llama3Schema = z.looseObject({
  factor: z.number().positive(),
  low_freq_factor: z.number().positive(),
  high_freq_factor: z.number().positive(),
  original_max_position_embeddings: positiveInt,
});

const TORCH_DTYPES: Record<string, DType> = {
  float32: "F32",
  bfloat16: "BF16",
  float16: "F16",
};

/**
 * Validates a Hugging Face `config.json` of a supported architecture (`architecture.ts`: Llama,
 * Mistral, Qwen2 and Qwen3). Other architectures, rope scaling types other than llama3,
 * sliding-window attention, and activations other than silu are refused by name. Defaults follow
 * transformers' `LlamaConfig` (bos 1, eos 2, rms_norm_eps
 * 1e-6, rope_theta 10000), except that a missing dtype means bfloat16.
 *
 * @example
 * ```ts
 * const config = parseModelConfig(JSON.parse(await Deno.readTextFile("config.json")));
 * config.numKvHeads; // 8 for Llama-3.2-1B
 * parseModelConfig({ architectures: ["MixtralForCausalLM"] }); // throws: Unsupported architecture "MixtralForCausalLM"
 * ```
 */
export function parseModelConfig(json: unknown): ModelConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new Error(`Config must be a JSON object, got ${JSON.stringify(json)}`);
  }
  const raw = structuredClone(json) as Record<string, unknown>;
  const architecture = architectureOf(raw);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new Error(formatIssues(parsed.error.issues, raw));
  const c = parsed.data;
  if (c.hidden_act !== "silu") {
    throw new Error(
      `Unsupported hidden_act ${JSON.stringify(c.hidden_act)}: only silu is supported`,
    );
  }
  checkSlidingWindow(architecture, raw, c.max_position_embeddings);
  const numKvHeads = c.num_key_value_heads ?? c.num_attention_heads;
  if (c.num_attention_heads % numKvHeads !== 0) {
    throw new Error(
      `Invalid config: num_attention_heads ${c.num_attention_heads} is not a multiple of ` +
        `num_key_value_heads ${numKvHeads}`,
    );
  }
  if (c.head_dim == null && c.hidden_size % c.num_attention_heads !== 0) {
    throw new Error(
      `Invalid config: hidden_size ${c.hidden_size} is not a multiple of num_attention_heads ` +
        `${c.num_attention_heads} and no head_dim is given`,
    );
  }
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (headDim % 2 !== 0) {
    throw new Error(`Invalid config: head_dim ${headDim} must be even for rotary embeddings`);
  }
  // transformers 5 moves rope_theta and the scaling into rope_parameters.
  const rope = c.rope_scaling ?? c.rope_parameters ?? null;
  return {
    family: architecture.family,
    biasedProjections: architecture.biasedProjections(c),
    qkNorm: architecture.qkNorm,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads,
    headDim,
    vocabSize: c.vocab_size,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_parameters?.rope_theta ?? c.rope_theta,
    ropeScaling: parseRopeScaling(rope),
    tieWordEmbeddings: c.tie_word_embeddings,
    maxPositionEmbeddings: c.max_position_embeddings,
    bosTokenId: c.bos_token_id,
    eosTokenIds: c.eos_token_id === null ? [] : [c.eos_token_id].flat(),
    torchDtype: parseTorchDtype(c.dtype ?? c.torch_dtype ?? "bfloat16"),
    raw,
  };
}

/**
 * Refuses sliding-window attention by name: Qwen's `use_sliding_window: true`, or Mistral's
 * `sliding_window` shorter than the model's context (a window at least that long never slides).
 */
function checkSlidingWindow(
  architecture: ArchitectureSpec,
  raw: Record<string, unknown>,
  maxPositions: number,
): void {
  const { use_sliding_window: use, sliding_window: window } = raw;
  if (architecture.slidingWindow === "use_sliding_window" && use === true) {
    throw new Error(
      `Unsupported use_sliding_window true in ${architecture.architecture}: sliding-window ` +
        `attention is not supported`,
    );
  }
  if (
    architecture.slidingWindow === "sliding_window" && window !== undefined && window !== null &&
    !(typeof window === "number" && window >= maxPositions)
  ) {
    throw new Error(
      `Unsupported sliding_window ${JSON.stringify(window)} in ${architecture.architecture}: ` +
        `only null or at least max_position_embeddings (${maxPositions}) is supported`,
    );
  }
}

function parseRopeScaling(rope: Record<string, unknown> | null): RopeScalingLlama3 | null {
  if (rope === null) return null;
  const type = rope["rope_type"] ?? rope["type"];
  if (type === "default") return null;
  if (type !== "llama3") {
    throw new Error(
      `Unsupported rope_scaling type ${JSON.stringify(type)}: only llama3 is supported`,
    );
  }
  const parsed = llama3Schema.safeParse(rope);
  if (!parsed.success) throw new Error(formatIssues(parsed.error.issues, rope, "rope_scaling."));
  const s = parsed.data;
  if (s.high_freq_factor <= s.low_freq_factor) {
    throw new Error(
      `Invalid rope_scaling: high_freq_factor ${s.high_freq_factor} must exceed ` +
        `low_freq_factor ${s.low_freq_factor}`,
    );
  }
  return {
    factor: s.factor,
    lowFreqFactor: s.low_freq_factor,
    highFreqFactor: s.high_freq_factor,
    originalMaxPositionEmbeddings: s.original_max_position_embeddings,
  };
}

function parseTorchDtype(name: string): DType {
  if (!Object.hasOwn(TORCH_DTYPES, name)) {
    throw new Error(
      `Unsupported torch_dtype ${JSON.stringify(name)}: only ${
        Object.keys(TORCH_DTYPES).join(", ")
      } are supported`,
    );
  }
  return TORCH_DTYPES[name];
}

/** One line per problem, naming the field and its value, e.g. `hidden_size is -1 (…)`. */
function formatIssues(issues: z.core.$ZodIssue[], input: unknown, prefix = ""): string {
  const parts = issues.map((issue) => {
    let value: unknown = input;
    for (const key of issue.path) value = (value as Record<PropertyKey, unknown>)?.[key];
    const field = prefix + issue.path.join(".");
    const shown = value === undefined ? "missing" : `${JSON.stringify(value)}`;
    const reason = issue.message.replace(/^Invalid input: /, "");
    return `${field} is ${shown} (${reason[0].toLowerCase()}${reason.slice(1)})`;
  });
  return `Invalid config: ${parts.join("; ")}`;
}
