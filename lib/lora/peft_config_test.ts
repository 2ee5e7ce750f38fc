import assert from "node:assert/strict";
import { parsePeftAdapterConfig } from "./peft_config.ts";

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const L = 4; // layers of the model the configs are read for

Deno.test("a PEFT config with target_modules all-linear or one name is read", () => {
  const base = { r: 4, lora_alpha: 8 };
  const read = (change: Record<string, unknown>) =>
    parsePeftAdapterConfig({ ...base, ...change }, L);
  assert.deepEqual(read({ target_modules: "all-linear" }).targetModules, ALL);
  assert.deepEqual(read({ target_modules: "v_proj" }).targetModules, ["v_proj"]);
  assert.equal(read({ target_modules: ["q_proj"] }).dropout, 0);
  assert.equal(read({ target_modules: ["q_proj"] }).layers, undefined);
});

Deno.test("missing r and lora_alpha default to PEFT's 8 and 8", () => {
  const config = parsePeftAdapterConfig({ peft_type: "LORA", target_modules: ["q_proj"] }, L);
  assert.equal(config.r, 8);
  assert.equal(config.alpha, 8);
  assert.equal(parsePeftAdapterConfig({ r: 16 }, L).alpha, 8);
});

Deno.test("PEFT configs this engine cannot apply are refused by name", () => {
  const base = { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj"] };
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ use_dora: true }, /Unsupported adapter in adapter_config.json: use_dora true/],
    [{ bias: "all" }, /Unsupported adapter in adapter_config.json: bias "all"/],
    [{ bias: "lora_only" }, /bias "lora_only"/],
    [{ lora_bias: true }, /lora_bias true/],
    [{ fan_in_fan_out: true }, /fan_in_fan_out true/],
    [{ peft_type: "IA3" }, /peft_type IA3/],
    [{ rank_pattern: { q_proj: 8 } }, /a non-empty rank_pattern/],
    [{ alpha_pattern: { q_proj: 8 } }, /a non-empty alpha_pattern/],
    [{ modules_to_save: ["lm_head"] }, /modules_to_save lm_head/],
    [{ init_lora_weights: "pissa" }, /init_lora_weights "pissa" \(PEFT rewrites the base/],
    [{ init_lora_weights: "pissa_niter_16" }, /init_lora_weights "pissa_niter_16"/],
    [{ init_lora_weights: "olora" }, /init_lora_weights "olora"/],
    [{ init_lora_weights: "corda" }, /init_lora_weights "corda"/],
    [{ init_lora_weights: "loftq" }, /init_lora_weights "loftq"/],
    [{ layers_pattern: "h" }, /layers_pattern "h"/],
    [{ layer_replication: [[0, 2]] }, /layer_replication/],
    [{ target_modules: ["c_attn"] }, /target_modules \["c_attn"\] match no projection/],
    [{ r: 0 }, /Invalid adapter_config.json: r: /],
    [{ lora_alpha: "8" }, /Invalid adapter_config.json: lora_alpha: /],
    [{ target_modules: "(q_proj" }, /Invalid adapter_config.json: target_modules "\(q_proj": /],
  ];
  for (const [change, message] of cases) {
    assert.throws(
      () => parsePeftAdapterConfig({ ...base, ...change }, L),
      message,
      JSON.stringify(change),
    );
  }
  assert.throws(
    () =>
      parsePeftAdapterConfig(
        { ...base, use_dora: true, bias: "all" },
        L,
        "adapter_config.json of x",
      ),
    /^Error: Unsupported adapter in adapter_config.json of x: use_dora true; bias "all"$/,
  );
  // Inits that leave the base weights alone are read.
  for (const init of [true, false, "gaussian", "eva"]) {
    assert.equal(parsePeftAdapterConfig({ ...base, init_lora_weights: init }, L).r, 4);
  }
});

Deno.test("an adapter_config.json without target_modules targets PEFT's default: q_proj and v_proj", () => {
  const json = { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: null };
  assert.deepEqual(parsePeftAdapterConfig(json, L).targetModules, ["q_proj", "v_proj"]);
  const { target_modules: _, ...missing } = json;
  assert.deepEqual(parsePeftAdapterConfig(missing, L, "x", ["q_proj"]).targetModules, ["q_proj"]);
});

Deno.test("layers_to_transform (a number or a list) and a layers_pattern of layers give a layer subset", () => {
  const base = { r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj"] };
  assert.deepEqual(parsePeftAdapterConfig({ ...base, layers_to_transform: [2, 0] }, L).layers, [
    0,
    2,
  ]);
  const one = parsePeftAdapterConfig(
    { ...base, layers_to_transform: 3, layers_pattern: "layers" },
    L,
  );
  assert.deepEqual(one.layers, [3]);
  assert.deepEqual(one.targetModules, ["q_proj", "v_proj"]);
  assert.throws(
    () => parsePeftAdapterConfig({ ...base, layers_to_transform: [7] }, L),
    /match no projection of this model/,
  );
});
