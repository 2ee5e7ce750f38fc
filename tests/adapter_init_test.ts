/**
 * A fresh adapter (PEFT's initialisation: A kaiming-uniform, B zero) leaves the model's
 * outputs equal to the base model's, bit for bit, on the WebGPU and the CPU backend; a
 * non-zero B changes them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadModel } from "../lib/model/load_model.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { initLoraWeights } from "../lib/lora/lora_weights.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter } from "./_lora_fixture.ts";

const ids = [1, 40, 7, 300, 52, 9, 128, 77, 3];
const lora = resolveLoraConfig({ r: 8, alpha: 16, targetModules: "all-linear" });

gpuTest("GPU logits with a fresh adapter equal the base model's bit for bit", async (gpu) => {
  const { model, files } = await loadFixture(gpu, { dtype: "BF16", seed: 11 });
  model.addAdapter("fresh", initLoraWeights(model.config, lora, 42));
  model.addAdapter("trained", randomAdapter(model.config, lora, 42));
  const base = await model.forward(ids);
  assert.deepEqual(await model.forward(ids, { adapter: "fresh" }), base);
  const changed = await model.forward(ids, { adapter: "trained" });
  assert.ok(changed.some((v, i) => v !== base[i]), "a non-zero B changes the logits");
  model.dispose();

  const cpu = await loadModel(memoryModelSource("fixture", files), { backend: "cpu" });
  cpu.addAdapter("fresh", initLoraWeights(cpu.config, lora, 7));
  assert.deepEqual(await cpu.forward(ids, { adapter: "fresh" }), await cpu.forward(ids));
  cpu.dispose();
});
