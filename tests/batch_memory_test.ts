/**
 * The batch engine allocates exactly its plan: the bytes the device's tracker counts for a
 * `BatchedModel` equal the estimator's sum of `planBatch`, by category, with adapter slots.
 *
 * @module
 */
import assert from "node:assert/strict";
import { estimateBatchInference, measuredBreakdown } from "../lib/estimate/estimate_memory.ts";
import { BatchedModel } from "../lib/model/batched_model.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture } from "./_lora_fixture.ts";

gpuTest("a batched model allocates exactly the bytes of its plan", async (gpu) => {
  const { model } = await loadFixture(gpu, { overrides: { num_key_value_heads: 1 } });
  const sizes = {
    maxBatch: 3,
    stepTokens: 20,
    maxContext: 40,
    kvCacheDtype: "f16" as const,
    maxLoras: 2,
    maxLoraRank: 6,
  };
  const before = measuredBreakdown(gpu.memory.report());
  const batched = new BatchedModel(model, sizes);
  try {
    const after = measuredBreakdown(gpu.memory.report());
    const planned = estimateBatchInference(model.config, sizes);
    for (const key of ["lora", "activations", "kvCache"] as const) {
      assert.equal(after[key] - before[key], planned[key], key);
    }
    // Keys and values of 3 slots per layer, plus one scratch slot (prefix copies); f16, one kv head.
    const kvBytes = (model.config.numLayers * 2 * 3 + 1) * 40 * model.config.headDim * 2;
    assert.equal(planned.kvCache, kvBytes);
  } finally {
    batched.dispose();
    model.dispose();
  }
});
