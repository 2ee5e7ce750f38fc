/**
 * One training step on the GPU against the TypeScript reference, on a fixture unlike the
 * golden one (other seed, bf16 weights, GQA, all seven target modules, a non-zero adapter, a
 * padded batch of records of different lengths): the loss, every LoRA gradient, and the plain
 * SGD update W − lr·grad. Then gradient accumulation: micro-batches with different label
 * counts give the one-big-batch gradient, in the trainer and through the training loop.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loraScaleOf, resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { referenceLossAndGrads } from "../lib/reference/model.ts";
import { IGNORE, packBatch, type TokenizedExample } from "../lib/train/batch.ts";
import { GpuLoraTrainer } from "../lib/train/gpu_lora_trainer.ts";
import { trainLora } from "../lib/train/train_lora.ts";
import { assertClose, maxAbs } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";
import { assertLossAndGrads, microStepOn, sgdTrainer } from "./_training_check.ts";
import { loadFixture, randomAdapter, referenceWeights } from "./_lora_fixture.ts";

const X = IGNORE;
/** Four records of lengths 9, 5, 12 and 7; the first tokens of three are a masked prompt. */
const records: TokenizedExample[] = [
  { inputIds: [1, 17, 200, 33, 90, 401, 5, 61, 2], labels: [X, X, X, X, 90, 401, 5, 61, 2] },
  { inputIds: [1, 300, 12, 88, 2], labels: [1, 300, 12, 88, 2] },
  {
    inputIds: [1, 9, 9, 250, 7, 18, 44, 130, 6, 71, 3, 2],
    labels: [X, X, X, X, X, X, 44, 130, 6, 71, 3, 2],
  },
  { inputIds: [1, 510, 64, 2, 99, 8, 2], labels: [X, X, X, 2, 99, 8, 2] },
];
const lora = resolveLoraConfig({ r: 4, alpha: 8, dropout: 0, targetModules: "all-linear" });
const OPTIMIZER = {
  step: 1,
  maxGradNorm: 0,
  weightDecay: 0,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-8,
};

gpuTest("one SGD step on a bf16 GQA fixture updates A and B as the reference does", async (gpu) => {
  const { model, files } = await loadFixture(gpu, { dtype: "BF16", seed: 5 });
  assert.ok(model.config.numKvHeads < model.config.numHeads, "GQA");
  const adapter = randomAdapter(model.config, lora, 8);
  const ref = referenceLossAndGrads(model.config, await referenceWeights(files), records, {
    scale: loraScaleOf(lora),
    tensors: adapter.tensors,
  });
  const batch = packBatch(records, 0);
  assert.equal(batch.labelTokens, ref.labelTokens);
  const trainer = sgdTrainer(gpu, model.config, model.gpuWeights!, adapter, batch);
  const { loss, grads } = await microStepOn(trainer, batch, 3);
  assert.equal(grads.size, 2 * 7 * 2);
  assertLossAndGrads({ loss, grads }, ref);
  const lr = 0.25;
  await trainer.optimizerStep({ ...OPTIMIZER, lr }, true);
  const after = await trainer.readAdapter();
  for (const [key, grad] of ref.grads) {
    const want = adapter.tensors.get(key)!.map((w, i) => w - lr * grad[i]);
    assertClose(after.tensors.get(key)!, want, {
      atol: 1e-3 * lr * maxAbs(grad),
      rtol: 0,
      label: key,
    });
  }
  trainer.dispose();
  model.dispose();
});

gpuTest(
  "gradient accumulation: micro-batches of different label counts give the big batch's gradient",
  async (gpu) => {
    const { model } = await loadFixture(gpu, { dtype: "F32", seed: 6 });
    const adapter = randomAdapter(model.config, lora, 9);
    const gradientsOf = async (microBatches: TokenizedExample[][]) => {
      const batches = microBatches.map((m) => packBatch(m, 0));
      const labelTokens = batches.reduce((n, b) => n + b.labelTokens, 0);
      const trainer = new GpuLoraTrainer(gpu, model.config, model.gpuWeights!, adapter, {
        batchSize: Math.max(...batches.map((b) => b.batchSize)),
        seqLen: Math.max(...batches.map((b) => b.seqLen)),
        optimizer: "sgd",
      });
      let loss: Promise<number> | null = null;
      for (const [i, batch] of batches.entries()) {
        const options = { lossScale: 1 / labelTokens, zeroGrads: i === 0, dropoutSeed: i };
        // The scaled losses add up on the GPU; the last micro-batch reads their total.
        loss = trainer.microStep(batch, options, i === batches.length - 1);
      }
      const grads = await trainer.readGradients();
      trainer.dispose();
      return { loss: await loss!, grads };
    };
    const whole = await gradientsOf([records]);
    const split = await gradientsOf([records.slice(0, 1), records.slice(1)]); // 5 and 18 label tokens
    assertClose([split.loss], [whole.loss], { atol: 0, rtol: 1e-6, label: "loss" });
    for (const [key, want] of whole.grads) {
      assertClose(split.grads.get(key)!, want, { atol: 1e-5 * maxAbs(want), rtol: 0, label: key });
    }
    // A mean of the micro-batches' means would weigh the 5-token batch like the 18-token one:
    // its gradient is far from the token-weighted one, so the check above can tell them apart.
    const first = await gradientsOf([records.slice(0, 1)]);
    const rest = await gradientsOf([records.slice(1)]);
    for (const [key, want] of whole.grads) {
      const meanOfMeans = first.grads.get(key)!.map((g, i) => (g + rest.grads.get(key)![i]) / 2);
      const diff = maxAbs(meanOfMeans.map((g, i) => g - want[i]));
      assert.ok(diff > 0.05 * maxAbs(want), `${key}: mean of means differs by ${diff}`);
    }
    model.dispose();
  },
);

gpuTest(
  "the training loop weighs tokens, not micro-batches: 2×2 accumulated equals 1×4",
  async (gpu) => {
    const { model } = await loadFixture(gpu, { dtype: "F32", seed: 6 });
    const run = async (batchSize: number, gradAccum: number) => {
      const options = {
        lora,
        maxSteps: 1,
        batchSize,
        gradAccum,
        optimizer: "sgd" as const,
        lr: 0.5,
      };
      const training = trainLora(model, records, {
        ...options,
        maxGradNorm: 0,
        scheduler: "constant" as const,
      });
      let next = await training.next();
      while (!next.done) next = await training.next();
      return next.value;
    };
    const accumulated = await run(2, 2);
    const big = await run(4, 1);
    const loss = (r: typeof big) => r.losses.map((p) => p.loss);
    assertClose(loss(accumulated), loss(big), { atol: 0, rtol: 1e-6, label: "loss" });
    for (const [key, want] of big.adapter.tensors) {
      assertClose(accumulated.adapter.tensors.get(key)!, want, {
        atol: 1e-6,
        rtol: 1e-5,
        label: key,
      });
    }
    model.dispose();
  },
);

gpuTest(
  "with logEvery the loss is read back only on logged steps, as the mean of the window's steps",
  async (gpu) => {
    const { model } = await loadFixture(gpu, { dtype: "F32", seed: 6 });
    const maps = { count: 0 };
    const mapAsync = GPUBuffer.prototype.mapAsync;
    GPUBuffer.prototype.mapAsync = function (...args: Parameters<GPUBuffer["mapAsync"]>) {
      maps.count++;
      return mapAsync.apply(this, args);
    };
    const run = async (logEvery: number) => {
      const training = trainLora(model, records, {
        lora,
        maxSteps: 7,
        batchSize: 1,
        gradAccum: 2,
        lr: 1e-2,
        logEvery,
      });
      const events = [];
      const before = maps.count;
      let next = await training.next();
      for (; !next.done; next = await training.next()) events.push(next.value);
      return { events, result: next.value, readbacks: maps.count - before };
    };
    try {
      const every = await run(1);
      const windowed = await run(3);
      assert.deepEqual(windowed.events.map((e) => e.step), [1, 2, 3, 4, 5, 6, 7]);
      const logged = windowed.events.filter((e) => e.loss !== undefined);
      assert.deepEqual(logged.map((e) => e.step), [3, 6, 7], "every 3rd step and the last");
      assert.ok(
        windowed.events.every((e) => (e.loss === undefined) === (e.gradNorm === undefined)),
      );
      const stepLoss = every.events.map((e) => e.loss!);
      const mean = (a: number[]) => a.reduce((x, y) => x + y) / a.length;
      assertClose(
        logged.map((e) => e.loss!),
        [mean(stepLoss.slice(0, 3)), mean(stepLoss.slice(3, 6)), stepLoss[6]],
        { atol: 0, rtol: 1e-5, label: "window means" },
      );
      assertClose(logged.map((e) => e.gradNorm!), [2, 5, 6].map((i) => every.events[i].gradNorm!), {
        atol: 0,
        rtol: 1e-5,
        label: "gradient norms",
      });
      assert.deepEqual(windowed.result.losses, logged.map((e) => ({ step: e.step, loss: e.loss })));
      // Each logged step reads two values (loss and gradient norm); the others read nothing.
      assert.equal(every.readbacks - windowed.readbacks, 2 * (7 - 3));
    } finally {
      GPUBuffer.prototype.mapAsync = mapAsync;
      model.dispose();
    }
  },
);
