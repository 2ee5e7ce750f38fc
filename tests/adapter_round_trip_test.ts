/**
 * Adapter round trips on the GPU: an adapter saved in PEFT format and loaded back gives the
 * same logits bit for bit; merged into an f32 model (exported as a Hugging Face folder and
 * loaded again) it gives the unmerged logits within f32 rounding.
 *
 * @module
 */
import assert from "node:assert/strict";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { readPeftAdapter, serializePeftAdapter } from "../lib/lora/peft_files.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { gpuTest } from "./_gpu.ts";
import { assertMergedMatchesUnmerged, loadFixture, randomAdapter } from "./_lora_fixture.ts";

const ids = [1, 250, 31, 7, 402, 88, 19, 3, 64, 200, 5];
const lora = resolveLoraConfig({ r: 8, alpha: 16, targetModules: "all-linear" });

gpuTest("save → load → logits unchanged; merge → logits equal to unmerged in f32", async (gpu) => {
  const { model, files } = await loadFixture(gpu, { dtype: "F32", seed: 21 });
  const adapter = randomAdapter(model.config, lora, 4);
  model.addAdapter("original", adapter);
  const unmerged = await model.forward(ids, { adapter: "original" });

  const saved = serializePeftAdapter(adapter, model.config, "fixture");
  model.addAdapter(
    "loaded",
    await readPeftAdapter(memoryModelSource("saved", saved), model.config),
  );
  assert.deepEqual(await model.forward(ids, { adapter: "loaded" }), unmerged);

  await assertMergedMatchesUnmerged(gpu, model, files, adapter, "original", ids);
  model.dispose();
});

gpuTest(
  "an adapter on one layer (layers_to_transform) applies on the GPU as merged",
  async (gpu) => {
    const { model, files } = await loadFixture(gpu, { dtype: "F32", seed: 22 });
    const subset = resolveLoraConfig({
      r: 4,
      alpha: 8,
      targetModules: ["q_proj", "up_proj"],
      layers: [1],
    });
    const adapter = randomAdapter(model.config, subset, 6);
    model.addAdapter("subset", adapter);
    await assertMergedMatchesUnmerged(gpu, model, files, adapter, "subset", ids);
    model.dispose();
  },
);
