/**
 * Training is one submit per micro-step: forward, backward and (on the last micro-batch of a
 * step) the optimizer share one command encoder, and nothing but the loss and the gradient
 * norm is read back. The fused update equals a separate optimizer submit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { uploadWeights } from "../lib/model/gpu_weights.ts";
import { packBatch } from "../lib/train/batch.ts";
import { GpuLoraTrainer } from "../lib/train/gpu_lora_trainer.ts";
import { assertClose } from "./_assert_close.ts";
import { goldenCase } from "./_golden.ts";
import { gpuTest } from "./_gpu.ts";

gpuTest(
  "a training step of two micro-batches is two submits, the update fused into the second",
  async (gpu) => {
    const { expected, checkpoint, adapter } = await goldenCase("bf16");
    const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
    const records = expected.batch.map((r) => ({ inputIds: r.input_ids, labels: r.labels }));
    const micro = [packBatch(records.slice(0, 2), 0), packBatch(records.slice(2), 0)];
    const tokens = micro[0].labelTokens + micro[1].labelTokens;
    const update = {
      lr: 1e-2,
      step: 1,
      maxGradNorm: 1,
      weightDecay: 0.01,
      betas: [0.9, 0.999] as [number, number],
      eps: 1e-8,
    };
    const options = { batchSize: 2, seqLen: 11, optimizer: "adamw" as const };

    const fused = new GpuLoraTrainer(gpu, checkpoint.config, weights, adapter, options);
    const before = { ...fused.counters };
    const first = fused.microStep(
      micro[0],
      { lossScale: 1 / tokens, zeroGrads: true, dropoutSeed: 1 },
      false,
    );
    assert.equal(first, null, "a micro-step that is not read returns no loss");
    const loss = await fused.microStep(
      micro[1],
      { lossScale: 1 / tokens, zeroGrads: false, dropoutSeed: 2 },
      true,
      update,
    )!; // both micro-batches' scaled losses, added up on the GPU
    const norm = await fused.lastGradNorm();
    assert.equal(fused.counters.submits - before.submits, 2);
    assert.equal(fused.counters.readbacks - before.readbacks, 2); // the step's loss and the norm
    assert.ok(Math.abs(loss - expected.loss_with_adapter) < 1e-4 * expected.loss_with_adapter);

    const separate = new GpuLoraTrainer(gpu, checkpoint.config, weights, adapter, options);
    separate.microStep(micro[0], { lossScale: 1 / tokens, zeroGrads: true, dropoutSeed: 1 }, false);
    separate.microStep(
      micro[1],
      { lossScale: 1 / tokens, zeroGrads: false, dropoutSeed: 2 },
      false,
    );
    assert.equal(await separate.optimizerStep(update, true), norm);
    const [x, y] = [await fused.readAdapter(), await separate.readAdapter()];
    for (const [key, values] of x.tensors) {
      assertClose(values, y.tensors.get(key)!, {
        atol: 0,
        rtol: 0,
        label: key,
      });
    }
    fused.dispose();
    separate.dispose();
  },
);
