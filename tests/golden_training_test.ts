/**
 * GPU LoRA training against the PyTorch golden values (tests/golden/README.md): the loss of a
 * padded batch of three records of different lengths and every LoRA gradient of all seven
 * target modules, for the Llama f32 and bf16 checkpoints and the Qwen2 (biases) and Qwen3
 * (per-head q/k norms, head_dim 32 ≠ hidden / heads) bf16 ones, with and without gradient
 * checkpointing, and with a binding limit that splits the tied LM head (V × D = 384 × 64) into
 * three chunks of 180, 180 and 24 rows (the (N, V) logits then do not fit in a binding, so the
 * backward recomputes them); for f32, a limit that splits it in two (256 and 128 rows) while the
 * logits fit, so the backward reuses the kept logits piece by piece; the backward reading
 * transposed copies of the weights (the default), of the LM head only, or none; and one plain
 * SGD step updates A and B exactly as W − lr·grad.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dtypeBytes } from "../lib/format/dtype.ts";
import { uploadWeights } from "../lib/model/gpu_weights.ts";
import { packBatch } from "../lib/train/batch.ts";
import { GpuLoraTrainer } from "../lib/train/gpu_lora_trainer.ts";
import { vocabChunkRows } from "../lib/train/train_plan.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { goldenCase } from "./_golden.ts";
import { gpuTest, testGpu } from "./_gpu.ts";
import { assertLossAndGrads, microStepLossAndGrads } from "./_training_check.ts";

/** The copies' cap that copies the LM head alone (V × D in the checkpoint's dtype). */
const LM_HEAD_ONLY = -1;

/**
 * The gradient test's variants: plain (the logits kept), gradient checkpointing, the LM head in
 * chunks of `headRows` rows with the logits recomputed or (f32 only) kept; all with the
 * backward reading transposed copies of every weight (the default cap), except where
 * `copyBytes` is 0 (the weights read as (K, N)) or {@linkcode LM_HEAD_ONLY}.
 */
const VARIANTS = [
  { name: "", gradCheckpoint: false },
  { name: " (gradient checkpointing)", gradCheckpoint: true },
  { name: " (no transposed weight copies)", gradCheckpoint: false, copyBytes: 0 },
  {
    name: " (a transposed copy of the LM head only)",
    gradCheckpoint: false,
    copyBytes: LM_HEAD_ONLY,
  },
  {
    name: " (LM head in 3 chunks, logits recomputed)",
    gradCheckpoint: false,
    head: { rows: 180, chunks: [180, 180, 24], kept: false },
  },
  {
    name: " (LM head in 3 chunks, logits recomputed, no transposed weight copies)",
    gradCheckpoint: false,
    head: { rows: 180, chunks: [180, 180, 24], kept: false },
    copyBytes: 0,
  },
  {
    name: " (LM head in 2 chunks, logits kept)",
    gradCheckpoint: false,
    head: { rows: 256, chunks: [256, 128], kept: true },
  },
];

for (const dtype of ["f32", "bf16", "qwen2-bf16", "qwen3-bf16"] as const) {
  const { expected, checkpoint, adapter } = await goldenCase(dtype);
  const { config } = checkpoint;
  const batch = packBatch(
    expected.batch.map((r) => ({ inputIds: r.input_ids, labels: r.labels })),
    0,
  );

  for (const { name, gradCheckpoint, head, copyBytes } of VARIANTS) {
    const D = config.hiddenSize, bytes = dtypeBytes(config.torchDtype);
    const bindingBytes = head && head.rows * D * bytes; // (rows, D) a binding
    const sizes = { batchSize: batch.batchSize, seqLen: batch.seqLen };
    const kept = (maxBindingBytes: number) =>
      vocabChunkRows(config, { ...sizes, maxBindingBytes }) === config.vocabSize;
    if (head && kept(bindingBytes!) !== head.kept) continue; // not this dtype's case
    gpuTest(
      `GPU loss and LoRA gradients of the ${dtype} golden model match PyTorch${name}`,
      async (shared) => {
        const gpu = head ? await testGpu({ maxBindingBytes: bindingBytes! }) : shared;
        const weights = uploadWeights(gpu, config, checkpoint.tensors);
        if (head) assert.deepEqual(weights.lmHead.chunks.map((c) => c.rows), head.chunks);
        else assert.ok(kept(gpu.maxBindingBytes), "the logits are kept");
        assert.equal(batch.labelTokens, expected.label_tokens);
        const lmHeadBytes = config.vocabSize * D * bytes;
        const transposedWeightsBytes = copyBytes === LM_HEAD_ONLY ? lmHeadBytes : copyBytes;
        const step = { gradCheckpoint, dropoutSeed: 1, transposedWeightsBytes };
        const actual = await microStepLossAndGrads(gpu, config, weights, adapter, batch, step);
        assertLossAndGrads(actual, {
          loss: expected.loss_with_adapter,
          grads: new Map(Object.entries(expected.lora_grads)),
        });
      },
    );
  }

  gpuTest(`one SGD step on the ${dtype} golden model moves A and B by −lr·grad`, async (gpu) => {
    const weights = uploadWeights(gpu, config, checkpoint.tensors);
    const trainer = new GpuLoraTrainer(gpu, config, weights, adapter, {
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
