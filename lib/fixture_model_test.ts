import assert from "node:assert/strict";
import { f32ToBf16Bits } from "./dtype.ts";
import { createFixtureModel, fixtureConfig } from "./fixture_model.ts";
import { llamaParameterCount, llamaTensorShapes, parseLlamaConfig } from "./llama_config.ts";
import { entryToF32, parseSafetensors, shapeSize } from "./safetensors.ts";

const decodeJson = (bytes: Uint8Array | undefined) => JSON.parse(new TextDecoder().decode(bytes));

function weights(files: Map<string, Uint8Array>) {
  return parseSafetensors(files.get("model.safetensors")!, "model.safetensors");
}

function meanStd(values: Float32Array): [number, number] {
  let sum = 0, sq = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  for (const v of values) sq += (v - mean) ** 2;
  return [mean, Math.sqrt(sq / values.length)];
}

Deno.test("tiny fixture: files, config and tensors", () => {
  const files = createFixtureModel();
  assert.deepEqual([...files.keys()].sort(), [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
  ]);
  const raw = decodeJson(files.get("config.json"));
  assert.deepEqual(Object.keys(raw), Object.keys(raw).sort(), "keys sorted like transformers");
  assert.deepEqual(raw.architectures, ["LlamaForCausalLM"]);
  assert.equal(raw.model_type, "llama");
  assert.equal(raw.torch_dtype, "bfloat16");
  const config = parseLlamaConfig(raw);
  assert.deepEqual(
    [config.hiddenSize, config.intermediateSize, config.numLayers, config.numHeads],
    [64, 160, 2, 4],
  );
  assert.deepEqual([config.numKvHeads, config.headDim, config.vocabSize], [2, 16, 512]);
  assert.deepEqual(config.ropeScaling, {
    factor: 32,
    lowFreqFactor: 1,
    highFreqFactor: 4,
    originalMaxPositionEmbeddings: 8192,
  });
  assert.equal(config.ropeTheta, 500000);
  assert.equal(config.tieWordEmbeddings, true);

  const tokenizerJson = decodeJson(files.get("tokenizer.json"));
  const tokenizerConfig = decodeJson(files.get("tokenizer_config.json"));
  const bos = tokenizerJson.added_tokens.find((t: { content: string }) =>
    t.content === tokenizerConfig.bos_token
  );
  assert.equal(config.bosTokenId, bos.id);
  const generation = decodeJson(files.get("generation_config.json"));
  assert.equal(generation.bos_token_id, config.bosTokenId);
  assert.deepEqual([generation.eos_token_id], config.eosTokenIds);

  const { tensors, metadata } = weights(files);
  assert.deepEqual(metadata, { format: "pt" });
  const shapes = llamaTensorShapes(config);
  assert.deepEqual([...tensors.keys()], [...shapes.keys()]);
  for (const [name, entry] of tensors) {
    assert.equal(entry.dtype, "BF16");
    assert.deepEqual(entry.shape, shapes.get(name));
  }
});

Deno.test("weights: linear std 0.02 around 0, norms around 1, tensors differ", () => {
  const { tensors } = weights(createFixtureModel({ dtype: "F32" }));
  const [embedMean, embedStd] = meanStd(entryToF32(tensors.get("model.embed_tokens.weight")!));
  assert.ok(Math.abs(embedMean) < 0.001, `embedding mean ${embedMean}`);
  assert.ok(Math.abs(embedStd - 0.02) < 0.001, `embedding std ${embedStd}`);
  const up = entryToF32(tensors.get("model.layers.0.mlp.up_proj.weight")!);
  const [, upStd] = meanStd(up);
  assert.ok(Math.abs(upStd - 0.02) < 0.001, `up_proj std ${upStd}`);
  const gate = entryToF32(tensors.get("model.layers.0.mlp.gate_proj.weight")!);
  assert.notDeepEqual(up, gate);
  const norms = Float32Array.from(
    [...tensors.values()].filter((e) => e.name.endsWith("norm.weight")).flatMap((e) => [
      ...entryToF32(e),
    ]),
  );
  assert.equal(norms.length, 5 * 64);
  const [normMean, normStd] = meanStd(norms);
  assert.ok(Math.abs(normMean - 1) < 0.02, `norm mean ${normMean}`);
  assert.ok(normStd > 0.05 && normStd < 0.15, `norm std ${normStd}`);
});

Deno.test("same seed gives identical bytes; another seed other weights", () => {
  const a = createFixtureModel({ seed: 7 });
  const b = createFixtureModel({ seed: 7 });
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [name, bytes] of a) assert.deepEqual(bytes, b.get(name), name);
  const c = createFixtureModel({ seed: 8 });
  assert.deepEqual(c.get("config.json"), a.get("config.json"));
  const ta = weights(a).tensors, tc = weights(c).tensors;
  for (const [name, entry] of ta) assert.notDeepEqual(entry.bytes, tc.get(name)!.bytes, name);
});

Deno.test("BF16 weights are the F32 weights rounded", () => {
  const f32 = weights(createFixtureModel({ dtype: "F32", seed: 3 })).tensors;
  const bf16 = weights(createFixtureModel({ dtype: "BF16", seed: 3 })).tensors;
  for (const [name, entry] of f32) {
    const bits = new Uint16Array(bf16.get(name)!.bytes.slice().buffer);
    assert.deepEqual(bits, f32ToBf16Bits(entryToF32(entry)), name);
  }
});

Deno.test("overrides change the raw config and the tensors", () => {
  const files = createFixtureModel({
    overrides: { num_hidden_layers: 3, tie_word_embeddings: false, vocab_size: 600 },
  });
  const raw = decodeJson(files.get("config.json"));
  assert.equal(raw.num_hidden_layers, 3);
  const { tensors } = weights(files);
  assert.deepEqual(tensors.get("lm_head.weight")?.shape, [600, 64]);
  assert.ok(tensors.has("model.layers.2.mlp.down_proj.weight"));
  assert.throws(
    () => createFixtureModel({ overrides: { vocab_size: 100 } }),
    /Fixture vocab_size 100 is smaller than the tokenizer's 512 tokens/,
  );
  assert.throws(
    () => createFixtureModel({ overrides: { num_key_value_heads: 3 } }),
    /num_attention_heads 4 is not a multiple of num_key_value_heads 3/,
  );
});

Deno.test("sharded fixture: shard names, sizes and index", () => {
  const shardBytes = 100_000;
  const files = createFixtureModel({ dtype: "F32", shardBytes });
  assert.ok(!files.has("model.safetensors"));
  const shards = [...files.keys()].filter((f) => f.startsWith("model-")).sort();
  assert.ok(shards.length > 2 && shards.length < 10, `${shards.length} shards`);
  shards.forEach((name, k) =>
    assert.equal(name, `model-0000${k + 1}-of-0000${shards.length}.safetensors`)
  );
  const index = decodeJson(files.get("model.safetensors.index.json"));
  let total = 0;
  for (const shard of shards) {
    const { tensors } = parseSafetensors(files.get(shard)!, shard);
    let bytes = 0;
    for (const [name, entry] of tensors) {
      assert.equal(index.weight_map[name], shard);
      bytes += entry.bytes.length;
    }
    assert.ok(bytes <= shardBytes || tensors.size === 1, `${shard} holds ${bytes} bytes`);
    total += bytes;
  }
  assert.equal(index.metadata.total_size, total);
  assert.equal(Object.keys(index.weight_map).length, 2 + 2 * 9);
  const config = parseLlamaConfig(decodeJson(files.get("config.json")));
  assert.equal(total, llamaParameterCount(config) * 4);
});

Deno.test("llama-3.2-1b preset: the real config and 1,235,814,400 parameters, no weights made", () => {
  const raw = fixtureConfig({ preset: "llama-3.2-1b" });
  // The numbers of DESIGN.md's "Llama-3.2-1B config".
  assert.equal(raw.hidden_size, 2048);
  assert.equal(raw.intermediate_size, 8192);
  assert.equal(raw.num_hidden_layers, 16);
  assert.equal(raw.num_attention_heads, 32);
  assert.equal(raw.head_dim, 64);
  assert.equal(raw.num_key_value_heads, 8);
  assert.equal(raw.vocab_size, 128256);
  assert.equal(raw.tie_word_embeddings, true);
  assert.equal(raw.rms_norm_eps, 1e-5);
  assert.equal(raw.rope_theta, 500000);
  assert.deepEqual(raw.rope_scaling, {
    factor: 32,
    high_freq_factor: 4,
    low_freq_factor: 1,
    original_max_position_embeddings: 8192,
    rope_type: "llama3",
  });
  assert.equal(raw.max_position_embeddings, 131072);
  assert.equal(raw.bos_token_id, 128000);
  assert.equal(raw.eos_token_id, 128001);
  assert.equal(raw.torch_dtype, "bfloat16");
  const config = parseLlamaConfig(raw);
  assert.equal(llamaParameterCount(config), 1_235_814_400);
  let bytes = 0;
  for (const shape of llamaTensorShapes(config).values()) bytes += shapeSize(shape) * 2;
  assert.equal(bytes, 2_471_628_800);
});

Deno.test("invalid fixture options are refused by name", () => {
  const cases: [Parameters<typeof createFixtureModel>[0], RegExp][] = [
    [{ preset: "llama-70b" as "tiny" }, /Unknown fixture preset "llama-70b"/],
    [{ dtype: "F16" as "F32" }, /Unsupported fixture dtype "F16": expected F32 or BF16/],
    [{ seed: 1.5 }, /Fixture seed must be an integer, got 1.5/],
    [{ shardBytes: 0 }, /Fixture shardBytes must be a positive integer, got 0/],
  ];
  for (const [options, pattern] of cases) assert.throws(() => createFixtureModel(options), pattern);
});
