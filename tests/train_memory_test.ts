/**
 * Gradient checkpointing on the GPU: on the same fixture and batch, recomputing each layer in
 * backward allocates less at peak than saving every layer's activations, as the training plan
 * says, and gives the same gradients.
 *
 * @module
 */
import assert from "node:assert/strict";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { IGNORE, packBatch } from "../lib/train/batch.ts";
import { GpuLoraTrainer } from "../lib/train/gpu_lora_trainer.ts";
import { planTraining } from "../lib/train/train_plan.ts";
import { planBuffers } from "../lib/gpu/buffer_plan.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter } from "./_lora_fixture.ts";

gpuTest("gradient checkpointing lowers peak GPU memory and keeps the gradients", async (gpu) => {
  const { model } = await loadFixture(gpu, {
    dtype: "BF16",
    seed: 4,
    overrides: { num_hidden_layers: 4 },
  });
  const lora = resolveLoraConfig({ r: 8, alpha: 16, dropout: 0.1, targetModules: "all-linear" });
  const adapter = randomAdapter(model.config, lora, 5);
  const records = [40, 33, 21].map((n, b) => {
    const inputIds = Array.from({ length: n }, (_, t) => (t * 29 + b * 7 + 1) % 500);
    return { inputIds, labels: inputIds.map((id, t) => (t < 5 ? IGNORE : id)) };
  });
  const batch = packBatch(records, 0);
  const measure = async (gradCheckpoint: boolean) => {
    gpu.memory.resetPeak();
    const before = gpu.memory.report().current;
    const sizes = {
      batchSize: batch.batchSize,
      seqLen: batch.seqLen,
      gradCheckpoint,
      optimizer: "adamw" as const,
    };
    const trainer = new GpuLoraTrainer(gpu, model.config, model.gpuWeights!, adapter, sizes);
    const options = { lossScale: 1 / batch.labelTokens, zeroGrads: true, dropoutSeed: 9 };
    const loss = await trainer.microStep(batch, options, true)!;
    const grads = await trainer.readGradients();
    const peak = gpu.memory.report().peak - before;
    trainer.dispose();
    const planned = planBuffers(planTraining(model.config, lora, {
      ...sizes,
      maxBindingBytes: gpu.maxBindingBytes,
      optimizerStates: 2,
    }))
      .reduce((n, spec) => n + spec.shape.reduce((a, b) => a * b, 1) * 4, 0);
    return { loss, grads, peak, planned };
  };
  const saved = await measure(false);
  const recomputed = await measure(true);
  assert.ok(
    recomputed.peak < 0.75 * saved.peak,
    `peak ${recomputed.peak} bytes with checkpointing, ${saved.peak} without`,
  );
  // The trainer allocates what the plan says (the estimator's numbers) plus the command
  // recorder's uniform buffers (a few hundred bytes a dispatch).
  for (const run of [saved, recomputed]) {
    assert.ok(
      run.peak >= run.planned && run.peak < run.planned + (1 << 20),
      `${run.peak} vs ${run.planned}`,
    );
  }
  assertClose([recomputed.loss], [saved.loss], { atol: 0, rtol: 1e-6, label: "loss" });
  for (const [key, want] of saved.grads) {
    assertClose(recomputed.grads.get(key)!, want, {
      atol: 1e-5 * maxAbs(want),
      rtol: 0,
      label: key,
    });
  }
  model.dispose();
});
