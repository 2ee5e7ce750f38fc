/**
 * Random Llama models in Hugging Face format, for tests and demos (no hub is reachable):
 * `config.json`, `generation_config.json`, `model.safetensors` (or shards plus
 * `model.safetensors.index.json`), `tokenizer.json` and `tokenizer_config.json`.
 *
 * Weights are seeded and reproducible: linear and embedding weights have mean 0 and standard
 * deviation 0.02 (a triangular distribution, close enough to normal), norm weights mean 1 and
 * deviation 0.1, so that a test ignoring the norm weights fails. Each tensor has its own stream,
 * derived from the seed and its name. Tensors are generated straight into the file bytes, so
 * the 1B preset (2.47 GB in bf16) needs no more memory than its file.
 *
 * @module
 */
import { type DType, dtypeBytes, f32ToBf16Bits } from "./dtype.ts";
import {
  type FixtureTokenizer,
  fixtureTokenizer,
  type FixtureTokenizerKind,
} from "./fixture_tokenizer.ts";
import { llamaTensorShapes, parseLlamaConfig } from "./llama_config.ts";
import { Rng } from "./rng.ts";
import {
  allocateSafetensors,
  type SafetensorsEntry,
  type SafetensorsTensorSpec,
  shapeSize,
} from "./safetensors.ts";

/** Options of {@linkcode createFixtureModel}. */
export interface FixtureOptions {
  /**
   * `"tiny"` (default): D 64, I 160, L 2, H 4, KV 2, HD 16, llama3 rope scaling (factor 32),
   * rope_theta 500000, tied embeddings. `"llama-3.2-1b"`: exactly Llama-3.2-1B's config.
   */
  preset?: "tiny" | "llama-3.2-1b";
  /** The weights' dtype (default BF16). */
  dtype?: "F32" | "BF16";
  /** The seed (default 0); the same options give identical bytes. */
  seed?: number;
  /**
   * `"small"` (default for tiny), `"llama3"` (default for llama-3.2-1b), or a tokenizer made with
   * `byteLevelTokenizer`.
   */
  tokenizer?: FixtureTokenizerKind | FixtureTokenizer;
  /** Raw `config.json` fields set last, e.g. `{ num_hidden_layers: 3 }`. */
  overrides?: Partial<Record<string, unknown>>;
  /**
   * Deviation of the embedding (and LM head) values; default 0.02 as Hugging Face initialises.
   * A tiny model needs larger embeddings to reach confident predictions through a tied head.
   */
  embeddingStd?: number;
  /** When set, split the weights into shards of at most this many bytes (unless one tensor is larger). */
  shardBytes?: number;
}

const PRESETS = {
  tiny: {
    hidden_size: 64,
    intermediate_size: 160,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    max_position_embeddings: 2048,
  },
  "llama-3.2-1b": {
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    max_position_embeddings: 131072,
  },
} as const;

/** The fields both presets share with Llama-3.2-1B's published config.json. */
const LLAMA_32_FIELDS = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  attention_bias: false,
  attention_dropout: 0.0,
  hidden_act: "silu",
  initializer_range: 0.02,
  mlp_bias: false,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  transformers_version: "4.45.0.dev0",
  use_cache: true,
};

const LINEAR_STD = 0.02;
const NORM_MEAN = 1;
const NORM_STD = 0.1;

/**
 * The `config.json` a fixture with these options has (keys sorted, as transformers writes
 * them), validated. vocab_size and the bos/eos ids come from the tokenizer.
 */
export function fixtureConfig(options: FixtureOptions = {}): Record<string, unknown> {
  const preset = options.preset ?? "tiny";
  if (!Object.hasOwn(PRESETS, preset)) {
    throw new Error(
      `Unknown fixture preset ${JSON.stringify(preset)}: expected tiny or llama-3.2-1b`,
    );
  }
  const dtype = options.dtype ?? "BF16";
  if (dtype !== "F32" && dtype !== "BF16") {
    throw new Error(`Unsupported fixture dtype ${JSON.stringify(dtype)}: expected F32 or BF16`);
  }
  const tokenizer = resolveTokenizer(options);
  const raw: Record<string, unknown> = {
    ...LLAMA_32_FIELDS,
    ...PRESETS[preset],
    vocab_size: tokenizer.vocabSize,
    bos_token_id: tokenizer.bosTokenId,
    eos_token_id: tokenizer.eosTokenId,
    torch_dtype: dtype === "F32" ? "float32" : "bfloat16",
    ...options.overrides,
  };
  const config = parseLlamaConfig(raw);
  if (config.vocabSize < tokenizer.vocabSize) {
    throw new Error(
      `Fixture vocab_size ${config.vocabSize} is smaller than the tokenizer's ` +
        `${tokenizer.vocabSize} tokens`,
    );
  }
  return Object.fromEntries(Object.entries(raw).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * Creates a random Llama model in Hugging Face format: file name → bytes. Deterministic:
 * the same options give identical bytes.
 */
export function createFixtureModel(options: FixtureOptions = {}): Map<string, Uint8Array> {
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new Error(`Fixture seed must be an integer, got ${seed}`);
  const raw = fixtureConfig(options);
  const config = parseLlamaConfig(raw);
  const tokenizer = resolveTokenizer(options);
  const dtype: DType = options.dtype ?? "BF16";
  const embeddingStd = options.embeddingStd ?? LINEAR_STD;
  const specs = [...llamaTensorShapes(config)].map(([name, shape]) => ({ name, dtype, shape }));

  const files = new Map<string, Uint8Array>();
  files.set("config.json", jsonBytes(raw));
  files.set(
    "generation_config.json",
    jsonBytes({
      _from_model_config: true,
      bos_token_id: tokenizer.bosTokenId,
      do_sample: true,
      eos_token_id: tokenizer.eosTokenId,
      temperature: 0.6,
      top_p: 0.9,
      transformers_version: raw["transformers_version"],
    }),
  );
  if (options.shardBytes === undefined) {
    files.set("model.safetensors", weightsFile(specs, seed, embeddingStd));
  } else {
    const shards = splitIntoShards(specs, options.shardBytes);
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    shards.forEach((shard, k) => {
      const name = `model-${pad5(k + 1)}-of-${pad5(shards.length)}.safetensors`;
      files.set(name, weightsFile(shard, seed, embeddingStd));
      for (const spec of shard) {
        weightMap[spec.name] = name;
        totalSize += shapeSize(spec.shape) * dtypeBytes(dtype);
      }
    });
    const sortedMap = Object.fromEntries(
      Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    files.set(
      "model.safetensors.index.json",
      jsonBytes({ metadata: { total_size: totalSize }, weight_map: sortedMap }),
    );
  }
  files.set("tokenizer.json", new TextEncoder().encode(JSON.stringify(tokenizer.json)));
  files.set("tokenizer_config.json", jsonBytes(tokenizer.config));
  return files;
}

function resolveTokenizer(options: FixtureOptions): FixtureTokenizer {
  const t = options.tokenizer ?? (options.preset === "llama-3.2-1b" ? "llama3" : "small");
  return typeof t === "string" ? fixtureTokenizer(t) : t;
}

/** One safetensors file holding these tensors, filled with seeded random values. */
function weightsFile(
  specs: SafetensorsTensorSpec[],
  seed: number,
  embeddingStd: number,
): Uint8Array {
  const { bytes, entries } = allocateSafetensors(specs, { format: "pt" });
  for (const entry of entries) fillTensor(entry, seed, embeddingStd);
  return bytes;
}

/**
 * Fills a tensor in place: norms with mean 1, everything else with mean 0. Each value comes
 * from one 32-bit draw, as the sum of its two 16-bit halves: a triangular distribution with
 * the requested deviation.
 */
function fillTensor(entry: SafetensorsEntry, seed: number, embeddingStd: number): void {
  const rng = new Rng(hashName(`${seed}:${entry.name}`));
  const isNorm = entry.name.endsWith("norm.weight");
  const isEmbedding = entry.name === "model.embed_tokens.weight" || entry.name === "lm_head.weight";
  const mean = isNorm ? NORM_MEAN : 0;
  const std = isNorm ? NORM_STD : isEmbedding ? embeddingStd : LINEAR_STD;
  const scale = std * Math.sqrt(6) / 65535;
  const n = shapeSize(entry.shape);
  const fill = (out: Float32Array) => {
    for (let i = 0; i < out.length; i++) {
      const r = rng.nextU32();
      out[i] = mean + ((r >>> 16) + (r & 0xffff) - 65535) * scale;
    }
  };
  // allocateSafetensors's data starts 8-byte aligned and every tensor here has one dtype, so
  // these views are aligned.
  const { buffer, byteOffset } = entry.bytes;
  if (entry.dtype === "F32") {
    fill(new Float32Array(buffer, byteOffset, n)); // (N)
    return;
  }
  const out = new Uint16Array(buffer, byteOffset, n); // (N) bf16 patterns
  const block = new Float32Array(Math.min(n, 65536));
  for (let start = 0; start < n; start += block.length) {
    const part = block.subarray(0, Math.min(block.length, n - start));
    fill(part);
    f32ToBf16Bits(part, out.subarray(start, start + part.length));
  }
}

/** Groups tensors in order into shards of at most `maxBytes` (a larger tensor gets its own). */
function splitIntoShards(
  specs: SafetensorsTensorSpec[],
  maxBytes: number,
): SafetensorsTensorSpec[][] {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new Error(`Fixture shardBytes must be a positive integer, got ${maxBytes}`);
  }
  const shards: SafetensorsTensorSpec[][] = [];
  let current: SafetensorsTensorSpec[] = [];
  let used = 0;
  for (const spec of specs) {
    const size = shapeSize(spec.shape) * dtypeBytes(spec.dtype);
    if (current.length > 0 && used + size > maxBytes) {
      shards.push(current);
      current = [];
      used = 0;
    }
    current.push(spec);
    used += size;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/** FNV-1a, 32 bits. */
function hashName(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) h = Math.imul(h ^ byte, 0x01000193);
  return h >>> 0;
}

function pad5(n: number): string {
  return String(n).padStart(5, "0");
}

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
}
