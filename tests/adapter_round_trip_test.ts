/**
 * Adapter round trips on the GPU: an adapter saved in PEFT format and loaded back gives the
 * same logits bit for bit; merged into an f32 model (exported as a Hugging Face folder and
 * loaded again) it gives the unmerged logits within f32 rounding.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../lib/format/checkpoint.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { mergedModelFiles } from "../lib/lora/merge.ts";
import { readPeftAdapter, serializePeftAdapter } from "../lib/lora/peft_files.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter } from "./_lora_fixture.ts";

const ids = [1, 250, 31, 7, 402, 88, 19, 3, 64, 200, 5];
const lora = resolveLoraConfig({ r: 8, alpha: 16, targetModules: "all-linear" });

gpuTest("save → load → logits unchanged; merge → logits equal to unmerged in f32", async (gpu) => {
  const { model, files } = await loadFixture(gpu, { dtype: "F32", seed: 21 });
  const adapter = randomAdapter(model.config, lora, 4);
  model.addAdapter("original", adapter);
  const unmerged = await model.forward(ids, { adapter: "original" });
  const base = await model.forward(ids);

  const saved = serializePeftAdapter(adapter, model.config, "fixture");
  model.addAdapter(
    "loaded",
    await readPeftAdapter(memoryModelSource("saved", saved), model.config),
  );
  assert.deepEqual(await model.forward(ids, { adapter: "loaded" }), unmerged);

  const source = memoryModelSource("fixture", files);
  const mergedFiles = await mergedModelFiles(await readCheckpoint(source), adapter, source);
  const merged = await loadModel(memoryModelSource("merged", mergedFiles), {
    backend: "webgpu",
    gpu,
  });
  const logits = await merged.forward(ids);
  assertClose(logits, unmerged, {
    atol: 2e-5 * maxAbs(unmerged),
    rtol: 0,
    label: "merged vs unmerged",
  });
  // The adapter matters far more than that tolerance, so the check above can fail.
  const effect = maxAbs(unmerged.map((v, i) => v - base[i]));
  assert.ok(effect > 100 * 2e-5 * maxAbs(unmerged), `adapter effect ${effect}`);
  merged.dispose();
  model.dispose();
});
