import assert from "node:assert/strict";
import { adaptedLayers, loraScaleOf, peftAdapterConfig, resolveLoraConfig } from "./lora_config.ts";
import { parsePeftAdapterConfig } from "./peft_config.ts";

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

Deno.test("defaults are the user's PEFT script's: r 16, alpha 32, dropout 0.1, q/k/v", () => {
  assert.deepEqual(resolveLoraConfig(), {
    r: 16,
    alpha: 32,
    dropout: 0.1,
    targetModules: ["q_proj", "k_proj", "v_proj"],
    useRslora: false,
  });
});

Deno.test("all-linear means the seven projections; targets are kept in model order", () => {
  assert.deepEqual(resolveLoraConfig({ targetModules: "all-linear" }).targetModules, ALL);
  assert.deepEqual(resolveLoraConfig({ targetModules: ["all-linear"] }).targetModules, ALL);
  assert.deepEqual(
    resolveLoraConfig({ targetModules: ["down_proj", "q_proj"] }).targetModules,
    ["q_proj", "down_proj"],
  );
});

Deno.test("unknown target modules are refused by name", () => {
  assert.throws(
    () => resolveLoraConfig({ targetModules: ["q_proj", "lm_head", "qkv"] }),
    /Unknown target modules "lm_head", "qkv": expected any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj or "all-linear"/,
  );
  assert.throws(() => resolveLoraConfig({ targetModules: [] }), /Target modules are empty/);
});

Deno.test("bad rank, alpha and dropout are refused with their value", () => {
  assert.throws(() => resolveLoraConfig({ r: 0 }), /LoRA rank 0 must be a positive integer/);
  assert.throws(() => resolveLoraConfig({ r: 2.5 }), /LoRA rank 2.5 must be a positive integer/);
  assert.throws(() => resolveLoraConfig({ alpha: -1 }), /LoRA alpha -1 must be positive/);
  assert.throws(() => resolveLoraConfig({ dropout: 1 }), /LoRA dropout 1 must be in \[0, 1\)/);
});

Deno.test("the scale is alpha/r, or alpha/√r with rsLoRA", () => {
  assert.equal(loraScaleOf(resolveLoraConfig({ r: 16, alpha: 32 })), 2);
  assert.equal(loraScaleOf(resolveLoraConfig({ r: 16, alpha: 32, useRslora: true })), 8);
  assert.equal(
    loraScaleOf(resolveLoraConfig({ r: 8, alpha: 8, useRslora: true })),
    8 / Math.sqrt(8),
  );
});

Deno.test("adapter_config.json holds DESIGN.md's fields with PEFT's values", () => {
  const config = resolveLoraConfig({ r: 8, alpha: 16, dropout: 0.05, targetModules: "all-linear" });
  const json = peftAdapterConfig(config, "LLM-Research/Llama-3.2-1B");
  const expected = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: "LLM-Research/Llama-3.2-1B",
    r: 8,
    lora_alpha: 16,
    lora_dropout: 0.05,
    target_modules: ALL,
    bias: "none",
    use_rslora: false,
    use_dora: false,
    fan_in_fan_out: false,
    inference_mode: true,
    modules_to_save: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(json[key], value, key);
  assert.deepEqual(parsePeftAdapterConfig(JSON.parse(JSON.stringify(json)), 2), config);
});

Deno.test("a layer subset is kept sorted, written as layers_to_transform and read back", () => {
  const config = resolveLoraConfig({ r: 4, layers: [3, 1, 3] });
  assert.deepEqual(config.layers, [1, 3]);
  assert.deepEqual(adaptedLayers(config, 4), [1, 3]);
  assert.deepEqual(adaptedLayers(resolveLoraConfig(), 3), [0, 1, 2]);
  assert.throws(() => adaptedLayers(config, 2), /LoRA layers 3 are outside the model's 2 layers/);
  assert.throws(() => resolveLoraConfig({ layers: [] }), /LoRA layers are empty/);
  assert.throws(() => resolveLoraConfig({ layers: [-1, 0.5] }), /LoRA layers -1, 0.5 are not/);
  const json = peftAdapterConfig(config, "m");
  assert.deepEqual(json.layers_to_transform, [1, 3]);
  assert.deepEqual(parsePeftAdapterConfig(JSON.parse(JSON.stringify(json)), 4), config);
});
