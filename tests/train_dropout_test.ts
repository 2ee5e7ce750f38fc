/**
 * LoRA dropout in GPU training against the TypeScript reference run with the same masks: the
 * loss and every LoRA gradient of the golden f32 model and adapter, trained with dropout 0.25,
 * with and without gradient checkpointing. The reference rebuilds each mask on its own from
 * the counter hash (`lib/util/hash.ts`) and the documented layout: in a micro-step with dropout seed
 * S, the branch of projection p in layer l masks its (N, IN) input (N = B·T rows of the padded
 * batch, row b·T + t = token t of record b) with seed hash2(S, 7·l + the index of p in
 * q, k, v, o, gate, up, down). The reference's own gradients under a fixed mask are checked by
 * finite differences in `lib/reference/model_test.ts`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { hash2 } from "../lib/util/hash.ts";
import { loraScaleOf } from "../lib/lora/lora_config.ts";
import { uploadWeights } from "../lib/model/gpu_weights.ts";
import { dropoutHash, dropoutScale, dropoutThreshold } from "../lib/util/dropout_mask.ts";
import {
  type LoraDropout,
  referenceLossAndGrads,
  type ReferenceRecord,
} from "../lib/reference/model.ts";
import { packBatch } from "../lib/train/batch.ts";
import { maxAbs } from "./_assert_close.ts";
import { goldenCase, readGoldenTensors } from "./_golden.ts";
import { gpuTest } from "./_gpu.ts";
import { assertLossAndGrads, microStepLossAndGrads } from "./_training_check.ts";

/** Drop probability: large, so that a mask left out anywhere moves the gradients far. */
const P = 0.25;
/** The micro-step's dropout seed. */
const SEED = 11;
/** The order in which the trainer numbers a layer's projections for their mask seeds. */
const ORDER = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

const { expected, checkpoint, adapter } = await goldenCase("f32");
const { config } = checkpoint;
const records: ReferenceRecord[] = expected.batch.map((r) => ({
  inputIds: r.input_ids,
  labels: r.labels,
}));
const batch = packBatch(records, 0); // (B, T) right-padded
const weights = await readGoldenTensors("tiny-f32/model.safetensors");
const lora = { scale: loraScaleOf(adapter.config), tensors: adapter.tensors };

/**
 * The trainer's dropout in micro-step `stepSeed`, rebuilt for the reference: record `record`'s
 * (T_b, IN) input x is rows b·T … b·T + T_b − 1 of the padded (B·T, IN) buffer the GPU masks.
 */
function trainerMasks(stepSeed: number, seqLen: number): LoraDropout<Float32Array> {
  const threshold = dropoutThreshold(P), scale = dropoutScale(P);
  return (x, { record, layer, projection }) => {
    const seed = hash2(stepSeed, layer * ORDER.length + ORDER.indexOf(projection));
    const inFeatures = x.length / records[record].inputIds.length;
    const offset = record * seqLen * inFeatures; // first element of the record's rows
    return x.map((v, i) => dropoutHash(seed, offset + i) < threshold ? 0 : v * scale);
  };
}

const reference = referenceLossAndGrads(
  config,
  weights,
  records,
  lora,
  trainerMasks(SEED, batch.seqLen),
);

Deno.test("the dropout masks move the reference's LoRA gradients far beyond the tolerance", () => {
  const plain = referenceLossAndGrads(config, weights, records, lora);
  for (const [key, want] of reference.grads) {
    const moved = maxAbs(want.map((g, i) => g - plain.grads.get(key)![i]));
    assert.ok(moved > 0.05 * maxAbs(want), `${key}: dropout moves it by only ${moved}`);
  }
});

for (const gradCheckpoint of [false, true]) {
  gpuTest(
    `GPU loss and LoRA gradients with dropout ${P} match the reference with the same masks${
      gradCheckpoint ? " (gradient checkpointing)" : ""
    }`,
    async (gpu) => {
      const gpuWeights = uploadWeights(gpu, config, checkpoint.tensors);
      const dropped = { config: { ...adapter.config, dropout: P }, tensors: adapter.tensors };
      assert.equal(batch.labelTokens, reference.labelTokens);
      const step = { gradCheckpoint, dropoutSeed: SEED };
      const actual = await microStepLossAndGrads(gpu, config, gpuWeights, dropped, batch, step);
      assertLossAndGrads(actual, reference);
    },
  );
}
