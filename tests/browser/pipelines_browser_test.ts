/**
 * Every pipeline the engine builds compiles in Chromium. Chromium compiles WGSL with Tint, Deno
 * with Naga, and each is stricter than the other in places. The pipelines are those a run of the
 * engine compiles here in Deno (PipelineCache.compiled): every family (Llama f32 and bf16,
 * Qwen2's biases, Qwen3's q/k norms) with and without an adapter, matmul tuning (every
 * variant), prefill in large and decode-sized chunks, generation (greedy and sampled, f32 and
 * f16 KV cache), training with and without gradient checkpointing, dropout, AdamW and SGD, and
 * evaluation. Chromium then builds each (kernel, constants) pair inside a validation error scope.
 */
import assert from "node:assert/strict";
import { createFixtureModel, type FixtureOptions } from "../../lib/fixtures/fixture_model.ts";
import {
  acquireGpu,
  type CompiledPipeline,
  evaluateModel,
  loadDataset,
  loadModel,
  memoryModelSource,
  pipelineKey,
  tokenizeExamples,
  trainLora,
} from "../../mod.ts";
import { browserTest, launchBrowser, openPage, startWebServer } from "./_browser.ts";

/** Tiny fixtures of each family and weight dtype, all with the small test tokenizer. */
const MODELS: FixtureOptions[] = [
  { dtype: "F32" },
  { dtype: "BF16" },
  {
    dtype: "BF16",
    overrides: { architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", rope_scaling: null },
  },
  {
    dtype: "BF16",
    overrides: {
      architectures: ["Qwen3ForCausalLM"],
      model_type: "qwen3",
      head_dim: 32,
      rope_scaling: null,
    },
  },
];

/** Runs the engine's workloads on one Deno device and lists what it compiled. */
async function enginePipelines(): Promise<readonly CompiledPipeline[]> {
  const gpu = await acquireGpu();
  const records = await Deno.readTextFile(
    new URL("../../examples/data/ruozhiba_sample.json", import.meta.url),
  );
  for (const options of MODELS) {
    const source = memoryModelSource("fixture", createFixtureModel(options));
    for (const chunkTokens of [4, 256]) {
      const model = await loadModel(source, { gpu, chunkTokens });
      await model.forward([1, 2, 3, 4, 5, 6, 7]);
      model.dispose();
    }
    const model = await loadModel(source, { gpu });
    const { examples } = tokenizeExamples(model.tokenizer, loadDataset(records).train.slice(0, 4), {
      maxLength: 96,
    });
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
      await model.forward([1, 2, 3, 4, 5, 6, 7], { adapter: "a" });
    }
    await evaluateModel(model, examples);
    for (const temperature of [0, 0.8]) {
      await model.generate("Hello", { maxTokens: 3, temperature, topP: 0.9, adapter: "a" });
    }
    model.dispose();
    const f16 = await loadModel(source, { gpu, kvCacheDtype: "f16" });
    await f16.generate("Hello", { maxTokens: 3, temperature: 0 });
    f16.dispose();
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
      const { failed: failures, controlCaught } = await page.evaluate(
        async (pipelines: CompiledPipeline[]) => {
          const lib = await import(new URL("/dist/webgpu-lora.js", location.href).href);
          const gpu = await lib.acquireGpu();
          const failed: string[] = [];
          for (const { kernel, constants } of pipelines) {
            gpu.device.pushErrorScope("validation");
            gpu.pipelines.get(kernel, constants);
            const error = await gpu.device.popErrorScope();
            if (error) failed.push(`${lib.pipelineKey(kernel, constants)}: ${error.message}`);
          }
          // The control: a constant no kernel declares must be caught by the same scope.
          gpu.device.pushErrorScope("validation");
          gpu.pipelines.get("embedding", { NO_SUCH_CONSTANT: 1 });
          const control = await gpu.device.popErrorScope();
          return { failed, controlCaught: control !== null };
        },
        pipelines as CompiledPipeline[],
      );
      console.log(`${pipelines.length} pipelines built in Chromium, ${failures.length} failed`);
      assert.deepEqual(failures, []);
      assert.ok(controlCaught, "the error scope missed a pipeline that cannot compile");
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
