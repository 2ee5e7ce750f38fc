/**
 * A diverging run and what it would leave behind: training stops at the first logged step
 * whose loss or gradient norm is not finite, with an error naming it, and saves no checkpoint
 * of it; a PEFT adapter with a NaN is refused at load; NaN logits stop generation with a clear
 * error on both backends, and the server answers it with a 422, not a 500.
 *
 * @module
 */
import assert from "node:assert/strict";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { NonFiniteLogitsError } from "../lib/generate/non_finite_logits.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { readPeftAdapter, serializePeftAdapter } from "../lib/lora/peft_files.ts";
import { TrainingDivergedError } from "../lib/train/diverged.ts";
import { trainLora } from "../lib/train/train_lora.ts";
import type { TrainingState } from "../lib/train/training_state.ts";
import { createApp } from "../server/app.ts";
import { ServerEngine } from "../server/engine.ts";
import { tempDir } from "../server/_test_fixture.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter } from "./_lora_fixture.ts";

const lora = resolveLoraConfig({ r: 4, alpha: 8, targetModules: "all-linear", dropout: 0 });
const examples = [
  { inputIds: [9, 205, 30, 151, 7, 88], labels: [-100, -100, 30, 151, 7, 88] },
  { inputIds: [40, 41, 42, 43], labels: [40, 41, 42, 43] },
];

gpuTest(
  "a run whose loss turns NaN stops with TrainingDivergedError and saves no NaN checkpoint",
  async (gpu) => {
    const { model } = await loadFixture(gpu, { seed: 3 });
    const saved: TrainingState[] = [];
    const run = trainLora(model, examples, {
      lora,
      batchSize: 2,
      maxSteps: 8,
      lr: 1e30, // AdamW moves every weight by about lr: the next forward overflows
      maxGradNorm: 0,
      checkpointEvery: 1,
      onCheckpoint: (state) => Promise.resolve(void saved.push(state)),
    });
    const losses: number[] = [];
    let error: unknown = null;
    try {
      for (let next = await run.next(); !next.done; next = await run.next()) {
        losses.push(next.value.loss!);
      }
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof TrainingDivergedError, `expected divergence, got ${error}`);
    assert.ok(losses.length >= 1 && losses.every(Number.isFinite), `losses ${losses}`);
    assert.equal(error.step, losses.length + 1);
    assert.match(error.message, new RegExp(`^Training diverged at step ${error.step}: loss `));
    assert.match(error.message, new RegExp(`the checkpoint of step ${saved.at(-1)!.step} is kept`));
    assert.ok(saved.every((s) => s.step < error.step), "no checkpoint of the diverged step");
    for (const state of saved) {
      for (const values of state.adapter.tensors.values()) assert.ok(values.every(Number.isFinite));
    }
    model.dispose();
  },
);

gpuTest(
  "NaN logits stop generation with NonFiniteLogitsError on the GPU and the CPU",
  async (gpu) => {
    const { model, files } = await loadFixture(gpu);
    const cpu = await loadModel(memoryModelSource("fixture", files), { backend: "cpu" });
    const broken = randomAdapter(model.config, lora, 2);
    broken.tensors.values().next().value![0] = NaN;
    for (const m of [model, cpu]) {
      m.addAdapter("broken", broken);
      await assert.rejects(
        m.generate({ ids: [9, 205, 30] }, { adapter: "broken", maxTokens: 3 }),
        (e) =>
          e instanceof NonFiniteLogitsError &&
          /logits for generated token 0 are NaN/.test(e.message),
      );
      // Greedy, so the check cannot meet an EOS by chance: the same model without the adapter still works.
      const clean = await m.generate({ ids: [9, 205, 30] }, { maxTokens: 2, temperature: 0 });
      assert.equal(clean.tokens.length, 2);
    }
    model.dispose();

    // The server answers it with a 422 that says so.
    const engine = new ServerEngine(Promise.resolve(cpu), { adaptersDir: await tempDir() });
    await engine.ready;
    const response = await createApp(engine).request("/v1/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "broken", prompt: "Hi", max_tokens: 2 }),
    });
    const body = await response.json();
    assert.equal(response.status, 422, JSON.stringify(body));
    assert.equal(body.error.code, "non_finite_logits");
    assert.match(body.error.message, /are NaN/);
  },
);

Deno.test("a PEFT adapter holding a NaN is refused at load, naming the tensor", async () => {
  const { createFixtureModel } = await import("../lib/fixtures/fixture_model.ts");
  const { readCheckpoint } = await import("../lib/format/checkpoint.ts");
  const { config } = await readCheckpoint(memoryModelSource("m", createFixtureModel()));
  const adapter = randomAdapter(config, lora, 5);
  const [key, values] = [...adapter.tensors][3];
  values[7] = Infinity;
  const files = serializePeftAdapter(adapter, config, "fixture");
  await assert.rejects(
    readPeftAdapter(memoryModelSource("diverged", files), config),
    new RegExp(
      `^Error: Adapter "diverged" has a non-finite value \\(Infinity\\) in ${
        key.replaceAll(".", "\\.")
      } at index 7`,
    ),
  );
});
