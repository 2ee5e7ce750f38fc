/**
 * The memory estimator against the bytes the runtime really allocates: for tiny fixture
 * models (bf16 and f32), training with and without gradient checkpointing, with adapters of
 * different ranks and targets and both optimizers, and inference with and without an adapter,
 * each on a fresh device (so its counters start at zero). The estimate must be within 10% of the bytes counted after the
 * buffers are built and of the peak after a step; checkpointing must lower it. The
 * Llama-3.2-1B estimate is checked against closed-form figures.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../lib/format/checkpoint.ts";
import {
  estimateInference,
  estimateTraining,
  measuredBreakdown,
  type MemoryBreakdown,
  weightBytes,
} from "../lib/estimate/estimate_memory.ts";
import { createFixtureModel, fixtureConfig } from "../lib/fixtures/fixture_model.ts";
import { acquireGpu } from "../lib/gpu/device.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { type LoraOptions, resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { initLoraWeights } from "../lib/lora/lora_weights.ts";
import { destroyWeights, uploadWeights } from "../lib/model/gpu_weights.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { packBatch } from "../lib/train/batch.ts";
import { GpuLoraTrainer } from "../lib/train/gpu_lora_trainer.ts";
import { assertClose } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";

/** The categories the plans size exactly (the uniform allowance only touches workspace). */
const PLANNED = ["weights", "lora", "gradients", "optimizer", "activations", "kvCache"] as const;

/** Asserts the estimate is within 10% of the measurement, in total and per planned category. */
function assertWithinTenPercent(est: MemoryBreakdown, measured: MemoryBreakdown, label: string) {
  assertClose([est.total], [measured.total], { atol: 0, rtol: 0.1, label: `${label}: total` });
  assertClose(PLANNED.map((k) => est[k]), PLANNED.map((k) => measured[k]), {
    atol: 0,
    rtol: 0.1,
    label: `${label}: ${PLANNED.join(", ")}`,
  });
}

const ADAPTERS: LoraOptions[] = [
  { r: 4, targetModules: ["q_proj", "v_proj"], dropout: 0 },
  { r: 16, targetModules: "all-linear", dropout: 0.1 },
];
const B = 2, T = 24;

for (const dtype of ["BF16", "F32"] as const) {
  const files = createFixtureModel({ dtype, seed: 4 });
  const checkpoint = await readCheckpoint(memoryModelSource("fixture", files));
  const { config } = checkpoint;
  const examples = [T, T - 5].map((n) => {
    const ids = Array.from({ length: n }, (_, i) => (i * 37 + 11) % config.vocabSize);
    return { inputIds: ids, labels: ids };
  });

  for (const options of ADAPTERS) {
    const lora = resolveLoraConfig(options);
    const name = `${dtype} fixture, LoRA r=${lora.r} on ${lora.targetModules.length} modules`;
    const optimizers = options.r === 4 ? (["adamw", "sgd"] as const) : (["adamw"] as const);
    for (const optimizer of optimizers) {
      for (const gradCheckpoint of [false, true]) {
        const label = `${name}, ${optimizer}${gradCheckpoint ? ", grad checkpointing" : ""}`;
        gpuTest(`training memory estimate is within 10% of the allocation: ${label}`, async () => {
          const gpu = await acquireGpu();
          const settings = { lora, batchSize: B, seqLen: T, gradCheckpoint, optimizer };
          const est = estimateTraining(config, {
            ...settings,
            maxBindingBytes: gpu.maxBindingBytes,
          });
          const weights = uploadWeights(gpu, config, checkpoint.tensors);
          const trainer = new GpuLoraTrainer(
            gpu,
            config,
            weights,
            initLoraWeights(config, lora, 1),
            {
              batchSize: B,
              seqLen: T,
              gradCheckpoint,
              optimizer,
            },
          );
          assertWithinTenPercent(est, measuredBreakdown(gpu.memory.report()), `${label}, built`);
          const batch = packBatch(examples, 0);
          trainer.microStep(batch, {
            lossScale: 1 / batch.labelTokens,
            zeroGrads: true,
            dropoutSeed: 3,
          }, false);
          const step = { lr: 1e-3, step: 1, maxGradNorm: 1, weightDecay: 0, eps: 1e-8 };
          const norm = await trainer.optimizerStep({ ...step, betas: [0.9, 0.999] }, true)!;
          assert.ok(norm > 0, `gradient norm ${norm} after a step`);
          const peak = gpu.memory.report().peak;
          assertClose([est.total], [peak], {
            atol: 0,
            rtol: 0.1,
            label: `${label}, peak after a step`,
          });
          trainer.dispose();
          destroyWeights(weights);
        });
      }
    }
  }

  for (const options of [null, ADAPTERS[1]]) {
    const lora = options && resolveLoraConfig(options);
    const label = `${dtype} fixture${lora ? `, adapter r=${lora.r}` : ""}`;
    gpuTest(`inference memory estimate is within 10% of the allocation: ${label}`, async () => {
      const gpu = await acquireGpu();
      const maxContext = 96, chunkTokens = 32;
      const est = estimateInference(config, {
        maxContext,
        chunkTokens,
        lora: lora ?? undefined,
        maxBindingBytes: gpu.maxBindingBytes,
      });
      const model = await loadModel(memoryModelSource("fixture", files), {
        backend: "webgpu",
        gpu,
        maxContext,
        chunkTokens,
      });
      // The first load on a device measures matmul variants with scratch buffers of its own,
      // freed before it returns; the peak that matters starts once the model is built.
      gpu.memory.resetPeak();
      if (lora) model.addAdapter("a", initLoraWeights(config, lora, 2));
      const result = await model.generate("Hello there", {
        maxTokens: 4,
        temperature: 0,
        adapter: lora ? "a" : null,
      });
      assert.ok(result.completionTokens > 0);
      assertWithinTenPercent(
        est,
        measuredBreakdown(gpu.memory.report()),
        `${label}, after generating`,
      );
      assertClose([est.total], [gpu.memory.report().peak], {
        atol: 0,
        rtol: 0.1,
        label: `${label}, peak`,
      });
      model.dispose();
    });
  }
}

Deno.test("gradient checkpointing lowers the training estimate (activations only)", () => {
  for (const preset of ["tiny", "llama-3.2-1b"] as const) {
    const config = parseModelConfig(fixtureConfig({ preset }));
    for (const targetModules of [["q_proj", "k_proj", "v_proj"], "all-linear"] as const) {
      const lora = resolveLoraConfig({ r: 16, targetModules });
      const settings = { lora, batchSize: 1, seqLen: 512, optimizer: "adamw" as const };
      const off = estimateTraining(config, { ...settings, gradCheckpoint: false });
      const on = estimateTraining(config, { ...settings, gradCheckpoint: true });
      assert.ok(on.total < off.total, `${preset}: ${on.total} < ${off.total}`);
      assert.ok(on.activations < off.activations);
      for (const key of ["weights", "lora", "gradients", "optimizer", "workspace"] as const) {
        assert.equal(on[key], off[key], `${preset} ${key}`);
      }
    }
  }
});

Deno.test("the Llama-3.2-1B estimate agrees with closed-form figures", () => {
  const config = parseModelConfig(fixtureConfig({ preset: "llama-3.2-1b" }));
  // 1,235,814,400 parameters (tied embeddings once), two bytes each in bf16.
  assert.equal(weightBytes(config), 2 * 1_235_814_400);
  assert.equal(weightBytes(config, "F32"), 4 * 1_235_814_400);
  const lora = resolveLoraConfig({ r: 16, targetModules: "all-linear" });
  const train = estimateTraining(config, {
    lora,
    batchSize: 1,
    seqLen: 512,
    gradCheckpoint: true,
    optimizer: "adamw",
  });
  // 11,272,192 trainable parameters (r=16, all seven modules), f32; AdamW keeps m and v.
  assert.equal(train.lora, 4 * 11_272_192);
  assert.equal(train.gradients, 4 * 11_272_192);
  assert.equal(train.optimizer, 8 * 11_272_192);
  const sgd = estimateTraining(config, {
    lora,
    batchSize: 1,
    seqLen: 512,
    gradCheckpoint: true,
    optimizer: "sgd",
  });
  assert.equal(sgd.optimizer, 0);
  const infer = estimateInference(config, { maxContext: 2048 });
  // K and V: 16 layers × 2 × 2048 slots × 8 kv heads × 64 × 4 bytes.
  assert.equal(infer.kvCache, 16 * 2 * 2048 * 8 * 64 * 4);
  assert.equal(infer.lora + infer.gradients + infer.optimizer, 0);
  const adapted = estimateInference(config, { maxContext: 2048, lora });
  assert.equal(adapted.lora, 4 * 11_272_192);
});
