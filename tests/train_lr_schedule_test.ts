/**
 * The learning rate the training loop applies at each optimizer step, against Hugging Face's
 * `get_linear_schedule_with_warmup` and `get_cosine_schedule_with_warmup` written out here:
 * the optimizer step with 0-based index s uses lr·lr_lambda(s), so the first step of a run
 * with warmup uses lr 0. Each event's `lr` is checked, and with plain SGD the first step
 * (lr 0) must leave the adapter bit-for-bit as it was while the second must change it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import type { LoraWeights } from "../lib/lora/lora_weights.ts";
import { loraKey } from "../lib/model/names.ts";
import { IGNORE, type TokenizedExample } from "../lib/train/batch.ts";
import { trainLora, type TrainLoraOptions } from "../lib/train/train_lora.ts";
import { assertClose } from "./_assert_close.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter } from "./_lora_fixture.ts";

const X = IGNORE;
const records: TokenizedExample[] = [
  { inputIds: [1, 40, 300, 12, 2], labels: [X, X, 300, 12, 2] },
  { inputIds: [1, 77, 5, 2], labels: [1, 77, 5, 2] },
];
const lora = resolveLoraConfig({ r: 2, alpha: 4, dropout: 0, targetModules: ["q_proj"] });

/** HF's linear lr_lambda at 0-based step s of `total`, with `w` warmup steps. */
function hfLinear(s: number, total: number, w: number): number {
  if (s < w) return s / Math.max(1, w);
  return Math.max(0, (total - s) / Math.max(1, total - w));
}

/** HF's cosine lr_lambda (half a cycle) at 0-based step s of `total`, with `w` warmup steps. */
function hfCosine(s: number, total: number, w: number): number {
  if (s < w) return s / Math.max(1, w);
  const progress = (s - w) / Math.max(1, total - w);
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

const cases: {
  name: string;
  options: TrainLoraOptions;
  total: number;
  lambda: (s: number, total: number, w: number) => number;
}[] = [
  {
    // 2 records, batch 1, no accumulation: 2 steps an epoch, 4 in all.
    name: "linear, warmup 1, 2 epochs",
    options: { scheduler: "linear", warmupSteps: 1, epochs: 2 },
    total: 4,
    lambda: hfLinear,
  },
  {
    name: "cosine, warmup 2, maxSteps 6",
    options: { scheduler: "cosine", warmupSteps: 2, maxSteps: 6 },
    total: 6,
    lambda: hfCosine,
  },
];

for (const { name, options, total, lambda } of cases) {
  gpuTest(`trainLora applies Hugging Face's schedule at every step: ${name}`, async (gpu) => {
    const { model } = await loadFixture(gpu, { dtype: "F32", seed: 11 });
    const lr = 0.3, warmup = options.warmupSteps!;
    const initial = randomAdapter(model.config, lora, 2);
    const snapshots: LoraWeights[] = [];
    const training = trainLora(model, records, {
      ...options,
      lora,
      initAdapter: initial,
      lr,
      optimizer: "sgd",
      maxGradNorm: 0,
      batchSize: 1,
      gradAccum: 1,
      checkpointEvery: 1,
      onCheckpoint: (state) => {
        snapshots.push(state.adapter);
        return Promise.resolve();
      },
    });
    const events = [];
    let next = await training.next();
    for (; !next.done; next = await training.next()) events.push(next.value);
    model.dispose();

    assert.deepEqual(events.map((e) => e.step), Array.from({ length: total }, (_, s) => s + 1));
    assert.ok(events.every((e) => e.totalSteps === total));
    const expected = events.map((_, s) => lr * lambda(s, total, warmup));
    assertClose(events.map((e) => e.lr), expected, { atol: 1e-15, rtol: 1e-12, label: name });
    assert.equal(events[0].lr, 0, "the first optimizer step uses lr_lambda(0) = 0");

    // The reported rate is the one applied: SGD with lr 0 changes nothing, with lr > 0 it does.
    const key = loraKey(0, "q_proj", "B");
    assert.deepEqual(snapshots[0].tensors.get(key), initial.tensors.get(key), "after step 1");
    assert.notDeepEqual(snapshots[1].tensors.get(key), snapshots[0].tensors.get(key));
  });
}
