import assert from "node:assert/strict";
import { readGoldenJson } from "../../tests/_golden.ts";
import { type ModelConfig, parseModelConfig } from "./config.ts";
import { modelParameterCount, modelTensorShapes } from "./shapes.ts";
import { PROJECTIONS } from "./names.ts";

/** Llama-3.2-1B's config.json as published (transformers 4.45). */
const LLAMA_32_1B = {
  architectures: ["LlamaForCausalLM"],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: "silu",
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: "llama",
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-05,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: "bfloat16",
  transformers_version: "4.45.0.dev0",
  use_cache: true,
  vocab_size: 128256,
};

Deno.test("golden tiny configs parse", async () => {
  for (const [name, dtype] of [["tiny-f32", "F32"], ["tiny-bf16", "BF16"]] as const) {
    const json = await readGoldenJson(`${name}/config.json`);
    const config = parseModelConfig(json);
    assert.deepEqual({ ...config, raw: undefined }, {
      family: "llama",
      biasedProjections: [],
      qkNorm: false,
      hiddenSize: 64,
      intermediateSize: 160,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 16,
      vocabSize: 384,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      ropeScaling: {
        factor: 32,
        lowFreqFactor: 1,
        highFreqFactor: 4,
        originalMaxPositionEmbeddings: 8192,
      },
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 2048,
      bosTokenId: 1,
      eosTokenIds: [2],
      torchDtype: dtype,
      raw: undefined,
    });
    assert.deepEqual(config.raw, json);
    assert.notEqual(config.raw, json, "raw is a copy");
  }
});

Deno.test("Llama-3.2-1B: config, tensor shapes and 1,235,814,400 parameters", () => {
  const config = parseModelConfig(LLAMA_32_1B);
  assert.equal(config.headDim, 64);
  assert.equal(config.numKvHeads, 8);
  assert.deepEqual(config.eosTokenIds, [128001]);
  assert.equal(config.bosTokenId, 128000);
  assert.equal(config.maxPositionEmbeddings, 131072);
  const shapes = modelTensorShapes(config);
  assert.equal(shapes.size, 2 + 16 * 9);
  assert.deepEqual(shapes.get("model.embed_tokens.weight"), [128256, 2048]);
  assert.deepEqual(shapes.get("model.layers.15.self_attn.k_proj.weight"), [512, 2048]);
  assert.deepEqual(shapes.get("model.layers.0.self_attn.o_proj.weight"), [2048, 2048]);
  assert.deepEqual(shapes.get("model.layers.3.mlp.down_proj.weight"), [2048, 8192]);
  assert.ok(!shapes.has("lm_head.weight"));
  assert.equal(modelParameterCount(config), 1_235_814_400);
  const untied = parseModelConfig({ ...LLAMA_32_1B, tie_word_embeddings: false });
  assert.equal(modelParameterCount(untied), 1_235_814_400 + 128256 * 2048);
  assert.deepEqual(modelTensorShapes(untied).get("lm_head.weight"), [128256, 2048]);
});

Deno.test("defaults: head_dim, kv heads, dtype, eos lists, newer keys", () => {
  const base = { ...LLAMA_32_1B } as Record<string, unknown>;
  delete base.head_dim;
  delete base.num_key_value_heads;
  delete base.torch_dtype;
  let config = parseModelConfig(base);
  assert.equal(config.headDim, 64);
  assert.equal(config.numKvHeads, 32);
  assert.equal(config.torchDtype, "BF16");

  config = parseModelConfig({ ...LLAMA_32_1B, eos_token_id: [128001, 128008, 128009] });
  assert.deepEqual(config.eosTokenIds, [128001, 128008, 128009]);
  config = parseModelConfig({ ...LLAMA_32_1B, eos_token_id: null, bos_token_id: null });
  assert.deepEqual(config.eosTokenIds, []);
  assert.equal(config.bosTokenId, null);

  // head_dim given: hidden_size need not equal heads × head_dim.
  config = parseModelConfig({ ...LLAMA_32_1B, hidden_size: 3000, head_dim: 128 });
  assert.equal(config.headDim, 128);

  // transformers ≥ 4.56 writes `dtype`; legacy rope_scaling uses `type`.
  config = parseModelConfig({ ...LLAMA_32_1B, torch_dtype: undefined, dtype: "float16" });
  assert.equal(config.torchDtype, "F16");
  const legacy = { ...LLAMA_32_1B.rope_scaling, rope_type: undefined, type: "llama3" };
  assert.equal(parseModelConfig({ ...LLAMA_32_1B, rope_scaling: legacy }).ropeScaling?.factor, 32);
  assert.equal(parseModelConfig({ ...LLAMA_32_1B, rope_scaling: null }).ropeScaling, null);

  // transformers 5 keeps theta and scaling in rope_parameters.
  const v5 = { ...LLAMA_32_1B, rope_scaling: undefined, rope_theta: undefined } as Record<
    string,
    unknown
  >;
  v5.rope_parameters = { ...LLAMA_32_1B.rope_scaling, rope_theta: 250000 };
  config = parseModelConfig(v5);
  assert.equal(config.ropeTheta, 250000);
  assert.equal(config.ropeScaling?.highFreqFactor, 4);
});

Deno.test("unsupported models are refused by name", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { ...LLAMA_32_1B, architectures: ["Qwen2MoeForCausalLM"], model_type: "qwen2_moe" },
      /^Error: Unsupported architecture "Qwen2MoeForCausalLM": only LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM are supported \(mixture-of-experts models are not\)$/,
    ],
    [
      { ...LLAMA_32_1B, architectures: ["MixtralForCausalLM"] },
      /Unsupported architecture "MixtralForCausalLM".*mixture-of-experts/,
    ],
    [{ ...LLAMA_32_1B, architectures: ["Gemma2ForCausalLM"] }, /Unsupported architecture "Gemma2/],
    [{ ...LLAMA_32_1B, architectures: ["Phi3ForCausalLM"] }, /Unsupported architecture "Phi3/],
    [
      { ...LLAMA_32_1B, architectures: undefined, model_type: "gemma" },
      /^Error: Unsupported model_type "gemma": only llama, mistral, qwen2, qwen3 are supported$/,
    ],
    [
      { ...LLAMA_32_1B, model_type: "qwen2" },
      /^Error: Invalid config: model_type "qwen2" does not match architecture LlamaForCausalLM$/,
    ],
    [
      {
        ...LLAMA_32_1B,
        architectures: ["Qwen2ForCausalLM"],
        model_type: "qwen2",
        use_sliding_window: true,
      },
      /^Error: Unsupported use_sliding_window true in Qwen2ForCausalLM: sliding-window attention is not supported$/,
    ],
    [
      {
        ...LLAMA_32_1B,
        architectures: ["MistralForCausalLM"],
        model_type: "mistral",
        sliding_window: 4096,
        max_position_embeddings: 32768,
      },
      /^Error: Unsupported sliding_window 4096 in MistralForCausalLM: only null or at least max_position_embeddings \(32768\) is supported$/,
    ],
    [
      { ...LLAMA_32_1B, architectures: undefined, model_type: undefined },
      /Config has neither architectures nor model_type/,
    ],
    [
      { ...LLAMA_32_1B, rope_scaling: { type: "yarn", factor: 4 } },
      /^Error: Unsupported rope_scaling type "yarn": only llama3 is supported$/,
    ],
    [
      { ...LLAMA_32_1B, rope_scaling: { rope_type: "linear", factor: 2 } },
      /Unsupported rope_scaling type "linear"/,
    ],
    [{ ...LLAMA_32_1B, hidden_act: "gelu" }, /Unsupported hidden_act "gelu": only silu/],
    [
      { ...LLAMA_32_1B, torch_dtype: "int8" },
      /Unsupported torch_dtype "int8": only float32, bfloat16, float16 are supported/,
    ],
  ];
  for (const [json, pattern] of cases) assert.throws(() => parseModelConfig(json), pattern);
});

Deno.test("invalid values are reported with the field and value", () => {
  const cases: [unknown, RegExp][] = [
    [[1], /Config must be a JSON object, got \[1\]/],
    [
      { ...LLAMA_32_1B, hidden_size: -1, vocab_size: "x" },
      /^Error: Invalid config: hidden_size is -1 \(too small.*\); vocab_size is "x" \(expected number/,
    ],
    [
      { ...LLAMA_32_1B, num_hidden_layers: undefined },
      /Invalid config: num_hidden_layers is missing/,
    ],
    [{ ...LLAMA_32_1B, num_attention_heads: 2.5 }, /num_attention_heads is 2.5 \(expected int/],
    [{ ...LLAMA_32_1B, eos_token_id: [1, -2] }, /eos_token_id\.1 is -2 \(too small/],
    [
      { ...LLAMA_32_1B, num_key_value_heads: 6 },
      /num_attention_heads 32 is not a multiple of num_key_value_heads 6/,
    ],
    [
      { ...LLAMA_32_1B, head_dim: undefined, hidden_size: 2050 },
      /hidden_size 2050 is not a multiple of num_attention_heads 32 and no head_dim is given/,
    ],
    [{ ...LLAMA_32_1B, head_dim: 63 }, /head_dim 63 must be even/],
    [
      { ...LLAMA_32_1B, rope_scaling: { rope_type: "llama3", factor: 8 } },
      /rope_scaling\.low_freq_factor is missing/,
    ],
    [
      {
        ...LLAMA_32_1B,
        rope_scaling: { ...LLAMA_32_1B.rope_scaling, high_freq_factor: 1 },
      },
      /high_freq_factor 1 must exceed low_freq_factor 1/,
    ],
  ];
  for (const [json, pattern] of cases) assert.throws(() => parseModelConfig(json), pattern);
});

Deno.test("tensor shapes follow the architecture spec: biases and per-head q/k norms", () => {
  const llama = parseModelConfig(LLAMA_32_1B);
  const spec: ModelConfig = {
    ...llama,
    numLayers: 1,
    biasedProjections: ["q_proj", "v_proj"],
    qkNorm: true,
  };
  const names = [...modelTensorShapes(spec)].filter(([n]) => /bias|_norm/.test(n));
  assert.deepEqual(names, [
    ["model.layers.0.self_attn.q_proj.bias", [2048]],
    ["model.layers.0.self_attn.v_proj.bias", [512]],
    ["model.layers.0.self_attn.q_norm.weight", [64]],
    ["model.layers.0.self_attn.k_norm.weight", [64]],
  ]);
});

Deno.test("families: Qwen2 biases, Qwen3 q/k norms and head_dim, Mistral and Llama biases", async () => {
  const qwen2 = parseModelConfig(await readGoldenJson("tiny-qwen2-bf16/config.json"));
  assert.deepEqual([qwen2.family, qwen2.biasedProjections, qwen2.qkNorm, qwen2.headDim], [
    "qwen2",
    ["q_proj", "k_proj", "v_proj"],
    false,
    16,
  ]);
  const qwen3 = parseModelConfig(await readGoldenJson("tiny-qwen3-bf16/config.json"));
  assert.deepEqual([qwen3.family, qwen3.biasedProjections, qwen3.qkNorm, qwen3.headDim], [
    "qwen3",
    [],
    true,
    32,
  ]);
  assert.deepEqual(modelTensorShapes(qwen3).get("model.layers.1.self_attn.q_proj.weight"), [
    128,
    64,
  ]);
  const mistral = parseModelConfig({
    ...LLAMA_32_1B,
    architectures: ["MistralForCausalLM"],
    model_type: "mistral",
    sliding_window: null,
  });
  assert.equal(mistral.family, "mistral");
  const biased = parseModelConfig({ ...LLAMA_32_1B, attention_bias: true, mlp_bias: true });
  assert.deepEqual(biased.biasedProjections, [...PROJECTIONS]); // attention's four, then the MLP's
});
