/**
 * `n` choices of one prompt prefill it once: the others copy its KV cache on the GPU and run
 * only its last position. Their tokens equal separate runs of each choice, greedy and seeded,
 * with and without an adapter, for a prompt prefilled in several chunks.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BatchedModel, SharedPrefill } from "../lib/model/batched_model.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter } from "./_lora_fixture.ts";

const PROMPT = "Once upon a time there was a dragon who lived in a cave by the sea";

gpuTest("choices sharing one prefill give the tokens of separate runs", async (gpu) => {
  const { model } = await loadFixture(gpu, { seed: 5 });
  model.addAdapter(
    "a",
    randomAdapter(model.config, resolveLoraConfig({ r: 4, targetModules: "all-linear" }), 1, 0.5),
  );
  const batched = new BatchedModel(model, {
    maxBatch: 4,
    stepTokens: 6, // the prompt takes several steps: the other choices wait for its cache
    maxLoras: 1,
    maxLoraRank: 4,
    maxContext: 96,
  });
  try {
    for (const adapter of [null, "a"]) {
      const choice = (i: number) => ({
        maxTokens: 8,
        template: "none" as const,
        adapter,
        eosIds: [],
        ...(i === 0 ? { temperature: 0 } : { temperature: 1.5, seed: 40 + 7 * i }),
      });
      const alone: Awaited<ReturnType<typeof batched.generate>>[] = [];
      for (let i = 0; i < 3; i++) alone.push(await batched.generate(PROMPT, choice(i)));
      const before = batched.stats.sharedRows;
      const group = new SharedPrefill();
      const shared = await Promise.all(
        [0, 1, 2].map((i) => batched.generate(PROMPT, { ...choice(i), sharedPrefill: group })),
      );
      shared.forEach((r, i) =>
        assert.deepEqual(r.tokens, alone[i].tokens, `${adapter} choice ${i}`)
      );
      assert.notDeepEqual(alone[1].tokens, alone[2].tokens, "seeded choices differ");
      const P = shared[0].promptIds.length;
      assert.ok(P > 6, "the prompt is longer than a step");
      assert.equal(batched.stats.sharedRows - before, 2 * (P - 1), "two choices copied the prompt");
    }
  } finally {
    batched.dispose();
    model.dispose();
  }
});
