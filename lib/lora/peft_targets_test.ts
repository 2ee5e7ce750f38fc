import assert from "node:assert/strict";
import { peftModuleName, resolvePeftTargets } from "./peft_targets.ts";

const L = 4;
const resolve = (
  targetModules: string[] | string,
  more: { excludeModules?: string[] | string; layersToTransform?: number[] } = {},
) =>
  resolvePeftTargets({
    targetModules,
    excludeModules: more.excludeModules ?? null,
    layersToTransform: more.layersToTransform ?? null,
  }, L);

Deno.test("module names are the base model's, as PEFT matches them", () => {
  assert.equal(peftModuleName(3, "q_proj"), "model.layers.3.self_attn.q_proj");
  assert.equal(peftModuleName(0, "down_proj"), "model.layers.0.mlp.down_proj");
});

Deno.test("list targets match whole names or dotted suffixes", () => {
  assert.deepEqual(resolve(["self_attn.q_proj", "mlp.up_proj"]), {
    targetModules: ["q_proj", "up_proj"],
  });
  // "proj" is no dotted suffix of any module: PEFT matches nothing with it either.
  assert.throws(() => resolve(["proj"]), /match no projection/);
  // A full name is an exact match and adapts that layer only.
  assert.deepEqual(
    resolve(["model.layers.1.self_attn.v_proj", "model.layers.2.self_attn.v_proj"]),
    {
      targetModules: ["v_proj"],
      layers: [1, 2],
    },
  );
});

Deno.test("a regex string target is matched against whole module names", () => {
  assert.deepEqual(resolve(".*\\.(q_proj|v_proj)"), { targetModules: ["q_proj", "v_proj"] });
  assert.deepEqual(resolve("model\\.layers\\.[23]\\.self_attn\\.(k|v)_proj"), {
    targetModules: ["k_proj", "v_proj"],
    layers: [2, 3],
  });
  // Not a substring search: "q_proj" alone matches no whole name as a regex, but it is the
  // projection's own name, which is read as a one-name list.
  assert.deepEqual(resolve("q_proj"), { targetModules: ["q_proj"] });
  assert.throws(() => resolve("self_attn"), /match no projection/);
});

Deno.test("exclude_modules (list or regex) removes modules after targeting", () => {
  assert.deepEqual(resolve("all-linear", { excludeModules: ["mlp.down_proj", "o_proj"] }), {
    targetModules: ["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"],
  });
  assert.deepEqual(resolve(["q_proj"], { excludeModules: "model\\.layers\\.0\\..*" }), {
    targetModules: ["q_proj"],
    layers: [1, 2, 3],
  });
});

Deno.test("layers_to_transform filters list targets, and is refused with a regex", () => {
  assert.deepEqual(resolve(["q_proj"], { layersToTransform: [1, 3] }), {
    targetModules: ["q_proj"],
    layers: [1, 3],
  });
  assert.throws(
    () => resolve(".*q_proj", { layersToTransform: [1] }),
    /layers_to_transform cannot be used with a regular expression target_modules/,
  );
});

Deno.test("different projections on different layers are refused, naming each layer's", () => {
  assert.throws(
    () => resolve(["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]),
    /different projections on different layers \(layer 0: q_proj; layer 1: v_proj\)/,
  );
});
