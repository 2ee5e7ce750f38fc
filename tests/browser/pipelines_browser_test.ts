/**
 * Every pipeline the engine builds compiles in Chromium. Chromium compiles WGSL with Tint, Deno
 * with Naga, and each is stricter than the other in places. The pipelines are those a run of the
 * engine compiles here in Deno (PipelineCache.compiled): every golden family (Llama f32 and
 * bf16, Qwen2's biases, Qwen3's q/k norms) with and without an adapter, matmul tuning (every
 * variant), prefill in large and decode-sized chunks, generation (greedy and sampled, f32 and
 * f16 KV cache), training with and without gradient checkpointing, dropout, AdamW and SGD, and
 * evaluation. Chromium then builds each (kernel, constants) pair inside a validation error scope.
 */
import assert from "node:assert/strict";
import { createFixtureModel } from "../../lib/fixtures/fixture_model.ts";
import {
  acquireGpu,
  type CompiledPipeline,
  evaluateModel,
  loadModel,
  memoryModelSource,
  pipelineKey,
  trainLora,
} from "../../mod.ts";
import { GOLDEN_MODELS, goldenExpected, type GoldenName, goldenPath } from "../_golden.ts";
import { browserTest, launchBrowser, openPage, startWebServer } from "./_browser.ts";

/** Runs the engine's workloads on one Deno device and lists what it compiled. */
async function enginePipelines(): Promise<readonly CompiledPipeline[]> {
  const gpu = await acquireGpu();
  for (const name of Object.keys(GOLDEN_MODELS) as GoldenName[]) {
    const { model: folder } = GOLDEN_MODELS[name];
    const { batch, ids } = await goldenExpected(name);
    const examples = batch.map((b) => ({ inputIds: b.input_ids, labels: b.labels }));
    for (const chunkTokens of [4, 256]) {
      const model = await loadModel(goldenPath(folder), { gpu, chunkTokens });
      await model.forward(ids);
      model.dispose();
    }
    const model = await loadModel(goldenPath(folder), { gpu });
    for (const [gradCheckpoint, optimizer] of [[false, "adamw"], [true, "sgd"]] as const) {
      const run = trainLora(model, examples, {
        lora: { r: 4, alpha: 8, dropout: 0.1, targetModules: "all-linear" },
        maxSteps: 1,
        batchSize: 2,
        gradCheckpoint,
        optimizer,
      });
      let result;
      while (!(result = await run.next()).done);
      model.addAdapter("a", result.value.adapter);
      await model.forward(ids, { adapter: "a" });
    }
    await evaluateModel(model, examples);
    model.dispose();
  }
  for (const kvCacheDtype of ["f32", "f16"] as const) {
    const source = memoryModelSource("fixture", createFixtureModel());
    const model = await loadModel(source, { gpu, kvCacheDtype });
    await model.generate("Hello", { maxTokens: 3, temperature: 0 });
    await model.generate("Hello", { maxTokens: 3, temperature: 0.8, topP: 0.9, seed: 1 });
    model.dispose();
  }
  const compiled = gpu.pipelines.compiled;
  gpu.device.destroy();
  return compiled;
}

browserTest(
  "every pipeline the engine compiles in Deno also compiles in Chromium (Tint)",
  async () => {
    const pipelines = await enginePipelines();
    const server = await startWebServer({ modelDir: null });
    const browser = await launchBrowser();
    try {
      const page = await openPage(browser, `${server.url}blank`);
      const failures = await page.evaluate(async (pipelines: CompiledPipeline[]) => {
        const lib = await import(new URL("/dist/webgpu-lora.js", location.href).href);
        const gpu = await lib.acquireGpu();
        const failed: string[] = [];
        for (const { kernel, constants } of pipelines) {
          gpu.device.pushErrorScope("validation");
          gpu.pipelines.get(kernel, constants);
          const error = await gpu.device.popErrorScope();
          if (error) failed.push(`${lib.pipelineKey(kernel, constants)}: ${error.message}`);
        }
        return failed;
      }, pipelines as CompiledPipeline[]);
      console.log(`${pipelines.length} pipelines built in Chromium, ${failures.length} failed`);
      assert.deepEqual(failures, []);
      assert.equal(
        new Set(pipelines.map((p) => pipelineKey(p.kernel, p.constants))).size,
        pipelines.length,
      );
    } finally {
      await browser.close();
      await server.close();
    }
  },
);
