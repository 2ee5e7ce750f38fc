/**
 * GPU LoRA training against the PyTorch golden values (tests/golden/README.md): the loss of a
 * padded batch of three records of different lengths and every LoRA gradient of all seven
 * target modules, for the f32 and the bf16 checkpoint, with and without gradient
 * checkpointing; and one plain SGD step updates A and B exactly as W − lr·grad.
 *
 * @module
 */
import assert from "node:assert/strict";
import { uploadWeights } from "../lib/model/gpu_weights.ts";
import { packBatch } from "../lib/train/batch.ts";
import { GpuLoraTrainer } from "../lib/train/gpu_lora_trainer.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { goldenCase } from "./_golden.ts";
import { gpuTest } from "./_gpu.ts";

for (const dtype of ["f32", "bf16"] as const) {
  const { expected, checkpoint, adapter } = await goldenCase(dtype);
  const batch = packBatch(
    expected.batch.map((r) => ({ inputIds: r.input_ids, labels: r.labels })),
    0,
  );

  for (const gradCheckpoint of [false, true]) {
    gpuTest(
      `GPU loss and LoRA gradients of the ${dtype} golden model match PyTorch${
        gradCheckpoint ? " (gradient checkpointing)" : ""
      }`,
      async (gpu) => {
        const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
        const trainer = new GpuLoraTrainer(gpu, checkpoint.config, weights, adapter, {
          batchSize: batch.batchSize,
          seqLen: batch.seqLen,
          gradCheckpoint,
          optimizer: "sgd",
        });
        assert.equal(batch.labelTokens, expected.label_tokens);
        const loss = await trainer.microStep(batch, {
          lossScale: 1 / batch.labelTokens,
          zeroGrads: true,
          dropoutSeed: 1,
        }, true)!; // the scaled total: the mean token loss
        assert.ok(
          Math.abs(loss - expected.loss_with_adapter) <= 1e-5 * expected.loss_with_adapter,
          `loss ${loss} vs ${expected.loss_with_adapter}`,
        );
        const grads = await trainer.readGradients();
        assert.deepEqual([...grads.keys()].sort(), Object.keys(expected.lora_grads).sort());
        for (const [key, want] of Object.entries(expected.lora_grads)) {
          assertClose(grads.get(key)!, want, { atol: 1e-3 * maxAbs(want), rtol: 0, label: key });
        }
        trainer.dispose();
      },
    );
  }

  gpuTest(`one SGD step on the ${dtype} golden model moves A and B by −lr·grad`, async (gpu) => {
    const weights = uploadWeights(gpu, checkpoint.config, checkpoint.tensors);
    const trainer = new GpuLoraTrainer(gpu, checkpoint.config, weights, adapter, {
      batchSize: batch.batchSize,
      seqLen: batch.seqLen,
      optimizer: "sgd",
    });
    trainer.microStep(
      batch,
      { lossScale: 1 / batch.labelTokens, zeroGrads: true, dropoutSeed: 1 },
      false,
    );
    const lr = 0.5;
    const norm = await trainer.optimizerStep({
      lr,
      step: 1,
      maxGradNorm: 0,
      weightDecay: 0,
      betas: [0.9, 0.999],
      eps: 1e-8,
    }, true)!;
    assert.ok(norm > 0);
    const after = await trainer.readAdapter();
    for (const [key, grad] of Object.entries(expected.lora_grads)) {
      const before = adapter.tensors.get(key)!;
      const want = before.map((w, i) => w - lr * grad[i]);
      assertClose(after.tensors.get(key)!, want, {
        atol: 1e-3 * lr * maxAbs(grad),
        rtol: 0,
        label: key,
      });
    }
    trainer.dispose();
  });
}
