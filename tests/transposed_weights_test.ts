/**
 * The backward's transposed weight copies (`lib/train/transposed_weights.ts`): which weights a
 * byte cap allows (the LM head first, then the projections in layer order), that the memory
 * estimate counts exactly those bytes, and that the copies on the GPU hold each weight chunk
 * transposed, bit for bit, and are counted as weights.
 *
 * @module
 */
import assert from "node:assert/strict";
import { estimateTraining } from "../lib/estimate/estimate_memory.ts";
import { fixtureConfig } from "../lib/fixtures/fixture_model.ts";
import { bf16BitsToF32 } from "../lib/format/dtype.ts";
import { entryToF32 } from "../lib/format/safetensors.ts";
import { CommandRecorder } from "../lib/gpu/recorder.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { parseModelConfig } from "../lib/model/config.ts";
import { destroyWeights, uploadWeights } from "../lib/model/gpu_weights.ts";
import { PROJECTIONS, projectionWeightName } from "../lib/model/names.ts";
import {
  LM_HEAD,
  planTransposedWeights,
  TransposedWeights,
} from "../lib/train/transposed_weights.ts";
import { goldenCase } from "./_golden.ts";
import { gpuTest, readF32, testGpu } from "./_gpu.ts";
import { transpose } from "./kernels/_kernels.ts";

const LLAMA_8X1024 = parseModelConfig(fixtureConfig({ preset: "llama-8x1024" }));
const LM_HEAD_BYTES = 128256 * 1024 * 2; // (V, D) bf16
// q and o (1024, 1024), k and v (256, 1024), gate, up and down 2816 × 1024, in bf16
const LAYER_BYTES = (2 * 1024 * 1024 + 2 * 256 * 1024 + 3 * 2816 * 1024) * 2;

Deno.test("a cap copies the LM head first, then whole projections in layer order", () => {
  assert.deepEqual(planTransposedWeights(LLAMA_8X1024, 2, 0), { names: [], bytes: 0 });
  assert.deepEqual(planTransposedWeights(LLAMA_8X1024, 2, LM_HEAD_BYTES), {
    names: [LM_HEAD],
    bytes: LM_HEAD_BYTES,
  });
  const all = planTransposedWeights(LLAMA_8X1024, 2, 1 << 30);
  assert.equal(all.bytes, LM_HEAD_BYTES + 8 * LAYER_BYTES);
  assert.equal(all.names.length, 1 + 8 * PROJECTIONS.length);
  // A cap short of the last layer's down_proj by one byte leaves out just that one.
  const short = planTransposedWeights(LLAMA_8X1024, 2, all.bytes - 1);
  assert.deepEqual(
    short.names,
    all.names.filter((n) => n !== projectionWeightName(7, "down_proj")),
  );
  // Below the LM head, the projections still fit.
  const small = planTransposedWeights(LLAMA_8X1024, 2, LAYER_BYTES);
  assert.deepEqual(small.names, PROJECTIONS.map((p) => projectionWeightName(0, p)));
});

Deno.test("the training estimate counts the copies as weights", () => {
  const settings = {
    lora: resolveLoraConfig({ r: 16, targetModules: "all-linear" }),
    batchSize: 1,
    seqLen: 64,
    gradCheckpoint: false,
    optimizer: "adamw" as const,
  };
  const none = estimateTraining(LLAMA_8X1024, { ...settings, transposedWeightsBytes: 0 });
  const all = estimateTraining(LLAMA_8X1024, settings);
  assert.equal(all.weights - none.weights, LM_HEAD_BYTES + 8 * LAYER_BYTES);
  assert.equal(all.total - none.total, LM_HEAD_BYTES + 8 * LAYER_BYTES);
});

gpuTest("the copies hold every chunk of the copied weights transposed", async () => {
  const { checkpoint } = await goldenCase("bf16");
  const { config, tensors } = checkpoint;
  const D = config.hiddenSize;
  const gpu = await testGpu({ maxBindingBytes: 180 * D * 2 }); // the tied LM head in 3 chunks
  const weights = uploadWeights(gpu, config, tensors);
  const before = gpu.memory.report().byCategory.weights;
  const rec = new CommandRecorder(gpu);
  const cap = config.vocabSize * D * 2 + 1; // the LM head and no projection
  const copies = TransposedWeights.create(rec, config, weights, cap);
  assert.equal(gpu.memory.report().byCategory.weights - before, config.vocabSize * D * 2);
  assert.equal(copies.of(weights.layers[0].projections.q_proj), undefined);
  const head = copies.of(weights.lmHead)!;
  assert.deepEqual(head.map((c) => c.shape), [[D, 180], [D, 180], [D, 24]]);
  const embed = entryToF32(tensors.get("model.embed_tokens.weight")!); // (V, D)
  for (const [i, chunk] of weights.lmHead.chunks.entries()) {
    const rows = embed.subarray(chunk.rowStart * D, (chunk.rowStart + chunk.rows) * D);
    const words = await readF32(gpu, head[i].chunks[0].buffer, rows.length / 2); // (D, rows)
    const got = bf16BitsToF32(new Uint16Array(words.buffer));
    assert.deepEqual(got, transpose(rows, chunk.rows, D), `LM head chunk ${i}`);
  }
  copies.destroy();
  assert.equal(gpu.memory.report().byCategory.weights, before);
  rec.dispose();
  destroyWeights(weights);
});
