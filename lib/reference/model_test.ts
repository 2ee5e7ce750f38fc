import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { type ModelConfig, parseModelConfig } from "../model/config.ts";
import { modelTensorShapes } from "../model/shapes.ts";
import { loraKey, PROJECTIONS, projectionWeightName } from "../model/names.ts";
import { hash2 } from "../util/hash.ts";
import { Rng } from "../util/rng.ts";
import { assertGradient, randomArray } from "./_grad_check.ts";
import { dropoutForward } from "./dropout.ts";
import {
  type LoraDropout,
  referenceLogits,
  type ReferenceLora,
  referenceLossAndGrads,
} from "./model.ts";

/** A tiny random Llama with awkward sizes: GQA 3:1, llama3 scaling, untied LM head. */
function tinyConfig(tied: boolean): ModelConfig {
  return parseModelConfig({
    architectures: ["LlamaForCausalLM"],
    hidden_size: 10,
    intermediate_size: 14,
    num_hidden_layers: 2,
    num_attention_heads: 3,
    num_key_value_heads: 1,
    head_dim: 4,
    vocab_size: 13,
    rms_norm_eps: 1e-5,
    rope_theta: 100,
    rope_scaling: {
      rope_type: "llama3",
      factor: 4,
      low_freq_factor: 1,
      high_freq_factor: 2,
      original_max_position_embeddings: 16,
    },
    tie_word_embeddings: tied,
  });
}

/** f64 weights: norms near 1, everything else normal with std 0.5. */
function randomWeights(config: ModelConfig, rng: Rng): Map<string, Float64Array> {
  const weights = new Map<string, Float64Array>();
  for (const [name, shape] of modelTensorShapes(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = randomArray(rng, n, name.endsWith("norm.weight") ? 0.1 : 0.5);
    if (name.endsWith("norm.weight")) { for (let i = 0; i < n; i++) values[i] += 1; }
    weights.set(name, values);
  }
  return weights;
}

/** Rank-2 LoRA on every projection except layer 1's v_proj, A and B non-zero. */
function randomLora(config: ModelConfig, rng: Rng): ReferenceLora<Float64Array> {
  const r = 2;
  const shapes = modelTensorShapes(config);
  const tensors = new Map<string, Float64Array>();
  for (let l = 0; l < config.numLayers; l++) {
    for (const p of PROJECTIONS) {
      if (l === 1 && p === "v_proj") continue;
      const [out, inF] = shapes.get(projectionWeightName(l, p))!;
      tensors.set(loraKey(l, p, "A"), randomArray(rng, r * inF, 0.4));
      tensors.set(loraKey(l, p, "B"), randomArray(rng, out * r, 0.4));
    }
  }
  return { scale: 1.5, tensors };
}

const batch = [
  { inputIds: [3, 7, 1, 12, 0, 5], labels: [-100, -100, 1, 12, 0, 5] },
  { inputIds: [9, 2, 2, 11], labels: [9, 2, 2, 11] },
];

Deno.test("referenceLossAndGrads' LoRA gradients match finite differences of its loss", () => {
  const config = tinyConfig(false);
  const rng = new Rng(21);
  const weights = randomWeights(config, rng);
  const lora = randomLora(config, rng);
  const { labelTokens, grads } = referenceLossAndGrads(config, weights, batch, lora);
  assert.equal(labelTokens, 4 + 3);
  assert.deepEqual([...grads.keys()].sort(), [...lora.tensors.keys()].sort());
  const loss = () => referenceLossAndGrads(config, weights, batch, lora).loss;
  for (const [key, value] of lora.tensors) assertGradient(loss, value, grads.get(key)!, key);
});

for (
  const [family, extra] of [
    ["Qwen2ForCausalLM", { hidden_size: 12, head_dim: undefined }], // biases on q, k, v
    ["Qwen3ForCausalLM", { head_dim: 6 }], // per-head q/k norms; q_proj 10 → 18
    ["LlamaForCausalLM", { attention_bias: true, mlp_bias: true }], // a bias on every linear
  ] as const
) {
  Deno.test(`${family}: the LoRA gradients match finite differences of the loss`, () => {
    const config = parseModelConfig({
      ...tinyConfig(false).raw,
      architectures: [family],
      rope_scaling: null,
      ...extra,
    });
    const rng = new Rng(33);
    const weights = randomWeights(config, rng);
    const lora = randomLora(config, rng);
    const { grads } = referenceLossAndGrads(config, weights, batch, lora);
    const loss = () => referenceLossAndGrads(config, weights, batch, lora).loss;
    for (const [key, value] of lora.tensors) assertGradient(loss, value, grads.get(key)!, key);
  });
}

/** Dropout p = 0.3 whose mask is fixed by a hash of (record, layer, projection, element). */
const fixedDropout: LoraDropout<Float64Array> = (x, { record, layer, projection }) =>
  dropoutForward(x, 0.3, hash2(record, layer * 7 + PROJECTIONS.indexOf(projection)));

Deno.test("with a fixed LoRA dropout mask, the LoRA gradients match finite differences", () => {
  const config = tinyConfig(false);
  const rng = new Rng(27);
  const weights = randomWeights(config, rng);
  const lora = randomLora(config, rng);
  const { loss, grads } = referenceLossAndGrads(config, weights, batch, lora, fixedDropout);
  const plain = referenceLossAndGrads(config, weights, batch, lora);
  assert.ok(Math.abs(loss - plain.loss) > 1e-3, `dropout changes the loss: ${loss}`);
  const lossOf = () => referenceLossAndGrads(config, weights, batch, lora, fixedDropout).loss;
  for (const [key, value] of lora.tensors) assertGradient(lossOf, value, grads.get(key)!, key);
});

Deno.test("referenceLossAndGrads' loss is the token mean over the whole batch", () => {
  const config = tinyConfig(true);
  const rng = new Rng(22);
  const weights = randomWeights(config, rng);
  const lora = randomLora(config, rng);
  const whole = referenceLossAndGrads(config, weights, batch, lora);
  const [a, b] = batch.map((r) => referenceLossAndGrads(config, weights, [r], lora));
  assert.equal(whole.labelTokens, a.labelTokens + b.labelTokens);
  const tokenMean = (a.loss * a.labelTokens + b.loss * b.labelTokens) / whole.labelTokens;
  assertClose([whole.loss], [tokenMean], { rtol: 1e-12 });
  assert.ok(Math.abs(whole.loss - (a.loss + b.loss) / 2) > 1e-6, "differs from a mean of means");
});

Deno.test("referenceLogits with a zero lora_B equals the base model exactly", () => {
  const config = tinyConfig(true);
  const rng = new Rng(23);
  const weights = randomWeights(config, rng);
  const lora = randomLora(config, rng);
  for (const [key, value] of lora.tensors) if (key.includes("lora_B")) value.fill(0);
  const ids = [4, 8, 2, 1, 6];
  assert.deepEqual(
    referenceLogits(config, weights, ids, lora),
    referenceLogits(config, weights, ids),
  );
});

Deno.test("referenceLogits uses lm_head.weight when untied and the embedding when tied", () => {
  const rng = new Rng(24);
  const untied = tinyConfig(false);
  const weights = randomWeights(untied, rng);
  const ids = [1, 2, 3];
  const withHead = referenceLogits(untied, weights, ids);
  weights.set("lm_head.weight", weights.get("model.embed_tokens.weight")!);
  assert.notDeepEqual(referenceLogits(untied, weights, ids), withHead);
  assert.deepEqual(
    referenceLogits(tinyConfig(true), weights, ids),
    referenceLogits(untied, weights, ids),
  );
});

Deno.test("the reference model reports all missing weights and bad adapter keys together", () => {
  const config = tinyConfig(false);
  const rng = new Rng(25);
  const weights = randomWeights(config, rng);
  weights.delete("model.norm.weight");
  weights.set("model.layers.1.mlp.up_proj.weight", new Float64Array(3));
  const lora = randomLora(config, rng);
  lora.tensors.delete(loraKey(0, "k_proj", "B"));
  lora.tensors.set(
    "base_model.model.model.layers.0.self_attn.x_proj.lora_A.weight",
    new Float64Array(4),
  );
  lora.tensors.set(loraKey(1, "q_proj", "A"), new Float64Array(7));
  assert.throws(() => referenceLossAndGrads(config, weights, batch, lora), (e: Error) => {
    for (
      const part of [
        "weight model.norm.weight is missing",
        "weight model.layers.1.mlp.up_proj.weight has 3 elements, expected 140 (14,10)",
        `adapter has ${loraKey(0, "k_proj", "A")} but not ${loraKey(0, "k_proj", "B")}`,
        "adapter key base_model.model.model.layers.0.self_attn.x_proj.lora_A.weight names no",
        `adapter ${loraKey(1, "q_proj", "A")} has 7 elements, not (R, 10)`,
      ]
    ) assert.ok(e.message.includes(part), `${part} in ${e.message}`);
    return true;
  });
});

Deno.test("referenceLossAndGrads rejects bad records and batches without label tokens", () => {
  const config = tinyConfig(true);
  const rng = new Rng(26);
  const weights = randomWeights(config, rng);
  const lora = randomLora(config, rng);
  assert.throws(
    () => referenceLossAndGrads(config, weights, [{ inputIds: [1, 2], labels: [1] }], lora),
    /Record 0 has 2 input ids and 1 labels/,
  );
  assert.throws(
    () => referenceLossAndGrads(config, weights, [{ inputIds: [1, 2], labels: [1, -100] }], lora),
    /Batch of 1 records has no label tokens/,
  );
  assert.throws(() => referenceLogits(config, weights, []), /Token sequence is empty/);
  assert.throws(() => referenceLogits(config, weights, [13]), /Token id 13 at index 0/);
});
