import assert from "node:assert/strict";
import { fixtureConfig } from "../fixtures/fixture_model.ts";
import { type ModelConfig, parseModelConfig } from "../model/config.ts";
import { loraKey } from "../model/names.ts";
import { resolveLoraConfig } from "./lora_config.ts";
import {
  checkLoraTensors,
  initLoraWeights,
  loraParameterCount,
  loraTensorShapes,
} from "./lora_weights.ts";

const llama1b = parseModelConfig(fixtureConfig({ preset: "llama-3.2-1b" }));
const tiny = parseModelConfig(fixtureConfig());

/** r·L·Σ(in + out) written out per projection: q, o (D ↔ H·HD), k, v (D → KV·HD), gate, up, down (D ↔ I). */
function closedFormula(c: ModelConfig, r: number): number {
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  const D = c.hiddenSize, I = c.intermediateSize;
  return r * c.numLayers * (2 * (D + q) + 2 * (D + kv) + 3 * (D + I));
}

Deno.test("trainable parameters: 11,272,192 for Llama-3.2-1B with r 16 on all seven projections", () => {
  const lora = resolveLoraConfig({ r: 16, targetModules: "all-linear" });
  assert.equal(loraParameterCount(llama1b, lora), 11_272_192);
  assert.equal(loraParameterCount(llama1b, lora), closedFormula(llama1b, 16));
  assert.equal(loraParameterCount(tiny, { ...lora, r: 4 }), closedFormula(tiny, 4));
  // q/k/v only (the default targets): r·L·(D + H·HD + 2·(D + KV·HD)).
  const qkv = resolveLoraConfig({ r: 16 });
  assert.equal(loraParameterCount(llama1b, qkv), 16 * 16 * (4096 + 2 * 2560));
});

Deno.test("adapter tensors are lora_A (R, in) and lora_B (out, R) under PEFT keys, in layer order", () => {
  const shapes = loraTensorShapes(
    llama1b,
    resolveLoraConfig({ r: 8, targetModules: ["q_proj", "down_proj"] }),
  );
  assert.deepEqual([...shapes.keys()].slice(0, 4), [
    "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
    "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
    "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight",
    "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight",
  ]);
  assert.deepEqual(shapes.get(loraKey(3, "q_proj", "A")), [8, 2048]);
  assert.deepEqual(shapes.get(loraKey(3, "q_proj", "B")), [2048, 8]);
  assert.deepEqual(shapes.get(loraKey(15, "down_proj", "A")), [8, 8192]);
  assert.deepEqual(shapes.get(loraKey(15, "down_proj", "B")), [2048, 8]);
  assert.equal(shapes.size, 16 * 2 * 2);
});

Deno.test("initialisation: A kaiming-uniform with bound 1/√in from the seed, B zeros", () => {
  const lora = resolveLoraConfig({ r: 16, targetModules: "all-linear" });
  const w = initLoraWeights(tiny, lora, 42);
  for (const [key, shape] of loraTensorShapes(tiny, lora)) {
    const values = w.tensors.get(key)!;
    assert.equal(values.length, shape[0] * shape[1], key);
    if (key.includes("lora_B")) {
      assert.ok(values.every((v) => v === 0), `${key} is zero`);
      continue;
    }
    const bound = 1 / Math.sqrt(shape[1]);
    let sum = 0, sumSq = 0, max = 0;
    for (const v of values) {
      sum += v;
      sumSq += v * v;
      max = Math.max(max, Math.abs(v));
    }
    const n = values.length;
    assert.ok(max <= bound && max > 0.95 * bound, `${key}: max |A| ${max} vs bound ${bound}`);
    assert.ok(Math.abs(sum / n) < 0.1 * bound, `${key}: mean ${sum / n}`);
    const variance = sumSq / n; // uniform(−b, b): b²/3
    assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.1, `${key}: variance ${variance}`);
  }
  const key = loraKey(1, "up_proj", "A");
  assert.deepEqual(
    initLoraWeights(tiny, lora, 42).tensors.get(key),
    w.tensors.get(key),
    "same seed, same A",
  );
  const other = initLoraWeights(tiny, lora, 43).tensors.get(key)!;
  assert.ok(other.some((v, i) => v !== w.tensors.get(key)![i]), "another seed, another A");
});

Deno.test("checkLoraTensors reports every missing, unexpected and mis-shaped tensor together", () => {
  const lora = resolveLoraConfig({ r: 4, targetModules: ["q_proj", "v_proj"] });
  const tensors = new Map<string, { shape: number[] }>();
  for (const [key, shape] of loraTensorShapes(tiny, lora)) tensors.set(key, { shape });
  checkLoraTensors(tiny, lora, tensors, "ok"); // fits
  tensors.delete(loraKey(0, "q_proj", "B"));
  tensors.set(loraKey(1, "v_proj", "A"), { shape: [4, 32] });
  tensors.set(loraKey(0, "o_proj", "A"), { shape: [4, 64] });
  assert.throws(
    () => checkLoraTensors(tiny, lora, tensors, '"adapter"'),
    (e: Error) => {
      assert.match(e.message, /^Adapter "adapter" does not fit the model \(3 problems\):/);
      assert.match(
        e.message,
        /missing base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_B\.weight \[64, 4\]/,
      );
      assert.match(
        e.message,
        /layers\.1\.self_attn\.v_proj\.lora_A\.weight has shape \[4, 32\], expected \[4, 64\]/,
      );
      assert.match(
        e.message,
        /unexpected base_model\.model\.model\.layers\.0\.self_attn\.o_proj\.lora_A\.weight/,
      );
      return true;
    },
  );
});
