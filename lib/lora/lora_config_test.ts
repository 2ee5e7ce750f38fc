import assert from "node:assert/strict";
import {
  loraScaleOf,
  parsePeftAdapterConfig,
  peftAdapterConfig,
  resolveLoraConfig,
} from "./lora_config.ts";

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
  assert.deepEqual(parsePeftAdapterConfig(JSON.parse(JSON.stringify(json))), config);
});

Deno.test("a PEFT config with target_modules all-linear or one string is read", () => {
  const base = { r: 4, lora_alpha: 8 };
  assert.deepEqual(
    parsePeftAdapterConfig({ ...base, target_modules: "all-linear" }).targetModules,
    ALL,
  );
  assert.deepEqual(parsePeftAdapterConfig({ ...base, target_modules: "v_proj" }).targetModules, [
    "v_proj",
  ]);
  assert.equal(parsePeftAdapterConfig({ ...base, target_modules: ["q_proj"] }).dropout, 0);
});

Deno.test("PEFT configs this engine cannot apply are refused by name", () => {
  const base = { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj"] };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ use_dora: true }, /Unsupported adapter in adapter_config.json: use_dora true/],
    [{ bias: "all" }, /Unsupported adapter in adapter_config.json: bias "all"/],
    [{ bias: "lora_only" }, /bias "lora_only"/],
    [{ fan_in_fan_out: true }, /fan_in_fan_out true/],
    [{ peft_type: "IA3" }, /peft_type IA3/],
    [{ rank_pattern: { q_proj: 8 } }, /a non-empty rank_pattern/],
    [{ alpha_pattern: { q_proj: 8 } }, /a non-empty alpha_pattern/],
    [{ modules_to_save: ["lm_head"] }, /modules_to_save lm_head/],
    [{ target_modules: ["c_attn"] }, /Unknown target modules "c_attn"/],
    [{ r: 0 }, /Invalid adapter_config.json: r: /],
    [{ lora_alpha: "8" }, /Invalid adapter_config.json: lora_alpha: /],
  ];
  for (const [change, message] of cases) {
    assert.throws(
      () => parsePeftAdapterConfig({ ...base, ...change }),
      message,
      JSON.stringify(change),
    );
  }
  assert.throws(
    () =>
      parsePeftAdapterConfig({ ...base, use_dora: true, bias: "all" }, "adapter_config.json of x"),
    /^Error: Unsupported adapter in adapter_config.json of x: use_dora true; bias "all"$/,
  );
});

Deno.test("an adapter_config.json without target_modules targets PEFT's default: q_proj and v_proj", () => {
  const json = { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: null };
  assert.deepEqual(parsePeftAdapterConfig(json).targetModules, ["q_proj", "v_proj"]);
  const { target_modules: _, ...missing } = json;
  assert.deepEqual(parsePeftAdapterConfig(missing, "x", ["q_proj"]).targetModules, ["q_proj"]);
});
