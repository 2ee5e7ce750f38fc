/**
 * Every family end to end on fixture models the project writes (tiny sizes, the real Qwen3
 * tokenizer for the Qwen shapes): the GPU and CPU engines decode the same greedy tokens, one
 * training step runs and lowers nothing to NaN, and a merged export loads back with the
 * unmerged adapter's logits. The golden tests check the same math against PyTorch.
 *
 * @module
 */
import assert from "node:assert/strict";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { trainLora } from "../lib/train/train_lora.ts";
import { gpuTest } from "./_gpu.ts";
import { FAMILIES } from "./_families.ts";
import { assertMergedMatchesUnmerged, loadFixture, randomAdapter } from "./_lora_fixture.ts";

const lora = resolveLoraConfig({ r: 4, alpha: 8, targetModules: "all-linear", dropout: 0 });

for (const [family, options] of Object.entries(FAMILIES)) {
  gpuTest(`${family}: GPU and CPU decode the same greedy tokens`, async (gpu) => {
    const { model, files } = await loadFixture(gpu, { ...options, embeddingStd: 1 });
    const cpu = await loadModel(memoryModelSource("fixture", files), { backend: "cpu" });
    const prompt = { ids: [9, 205, 30, 151, 7] };
    const generate = { maxTokens: 12, temperature: 0 };
    const onGpu = await model.generate(prompt, generate);
    const onCpu = await cpu.generate(prompt, generate);
    assert.deepEqual(onGpu.tokens, onCpu.tokens);
    assert.ok(onGpu.tokens.length > 0);
    model.dispose();
  });

  gpuTest(
    `${family}: one training step, and a merged f32 export equals the unmerged adapter`,
    async (gpu) => {
      const { model, files } = await loadFixture(gpu, { ...options, dtype: "F32", seed: 5 });
      const examples = [
        { inputIds: [9, 205, 30, 151, 7, 88], labels: [-100, -100, 30, 151, 7, 88] },
        { inputIds: [40, 41, 42, 43], labels: [40, 41, 42, 43] },
      ];
      const run = trainLora(model, examples, { lora, batchSize: 2, maxSteps: 1, lr: 1e-2 });
      let next = await run.next();
      while (!next.done) next = await run.next();
      assert.equal(next.value.steps, 1);
      assert.ok(Number.isFinite(next.value.losses[0].loss), `loss ${next.value.losses[0].loss}`);

      const adapter = randomAdapter(model.config, lora, 4);
      model.addAdapter("a", adapter);
      await assertMergedMatchesUnmerged(gpu, model, files, adapter, "a", [9, 205, 30, 151, 7, 88]);
      model.dispose();
    },
  );
}
