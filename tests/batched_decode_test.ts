/**
 * Continuous batching: greedy requests decoded together in one batch, each with its own
 * adapter or none, joining while others run, more of them than cache slots, and prompts longer
 * than a step (chunked prefill), give exactly the tokens each gets alone from `Model`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BatchedModel } from "../lib/model/batched_model.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import type { GenerationResult } from "../lib/generate/generate.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter } from "./_lora_fixture.ts";
import { FAMILIES } from "./_families.ts";

const PROMPTS = [
  "The capital of France is",
  "Once upon a time there was a dragon who",
  "1 2 3 4 5 6",
  "Human: why is the sky blue?\nAssistant:",
  "A",
  "the the the",
];
const ADAPTERS = [null, "a", "b", "a", null, "b"];

gpuTest(
  "batched greedy decode equals unbatched per request, with mixed adapters, rows without one, and requests joining mid-stream",
  async (gpu) => {
    const { model } = await loadFixture(gpu, { seed: 5, embeddingStd: 1 });
    model.addAdapter(
      "a",
      randomAdapter(
        model.config,
        resolveLoraConfig({ r: 4, targetModules: "all-linear" }),
        1,
        1,
      ),
    );
    model.addAdapter(
      "b",
      randomAdapter(model.config, resolveLoraConfig({ r: 8, targetModules: "all-linear" }), 2, 0.5),
    );
    const options = (i: number) => ({
      maxTokens: 12 + 3 * i,
      temperature: 0,
      template: "none" as const,
      adapter: ADAPTERS[i],
      eosIds: [],
    });
    const alone: GenerationResult[] = [];
    for (let i = 0; i < PROMPTS.length; i++) {
      alone.push(await model.generate(PROMPTS[i], options(i)));
    }
    for (let i = 0; i < PROMPTS.length; i++) { // each adapter changes its request's output
      if (ADAPTERS[i] === null) continue;
      const base = await model.generate(PROMPTS[i], { ...options(i), adapter: null });
      assert.notDeepEqual(alone[i].tokens, base.tokens, `adapter ${ADAPTERS[i]} on request ${i}`);
    }

    const batched = new BatchedModel(model, {
      maxBatch: 4, // six requests: two wait for a slot
      stepTokens: 6, // prompts longer than a step are prefilled in chunks beside running decodes
      maxLoras: 2,
      maxLoraRank: 8,
      maxContext: 96,
    });
    try {
      const first = [0, 1, 2].map((i) => batched.generate(PROMPTS[i], options(i)));
      while (batched.stats.sampled < 6) await new Promise((r) => setTimeout(r, 5)); // running
      const later = [3, 4, 5].map((i) => batched.generate(PROMPTS[i], options(i)));
      const together = await Promise.all([...first, ...later]);
      together.forEach((result, i) => {
        assert.deepEqual(result.tokens, alone[i].tokens, `request ${i} (adapter ${ADAPTERS[i]})`);
        assert.equal(result.text, alone[i].text);
      });
      const { steps, sampled, rows } = batched.stats;
      const generated = together.reduce((n, r) => n + r.completionTokens, 0);
      assert.equal(sampled, generated, "one sample per generated token");
      assert.ok(
        steps < generated * 0.6,
        `${steps} steps for ${generated} tokens: rows share steps`,
      );
      assert.ok(rows > generated, "prefill rows ran too");
      const submits = batched.engine.counters.submits;
      assert.ok(
        submits < steps * 0.5,
        `${submits} submits for ${steps} steps: decode steps chained`,
      );
      assert.deepEqual(batched.residentAdapters.sort(), ["a", "b"]);
      const chunk = [0, 1, 2].map((position) => ({ id: 7, slot: 0, position, adapter: -1 }));
      assert.deepEqual(
        (await batched.engine.step(chunk, [])).ids,
        [],
        "a prefill chunk alone samples nothing",
      );
    } finally {
      batched.dispose();
      model.dispose();
    }
  },
);

for (const [family, fixture] of Object.entries(FAMILIES)) {
  gpuTest(
    `${family}: batched greedy decode equals unbatched, with and without an adapter`,
    async (gpu) => {
      const { model } = await loadFixture(gpu, {
        ...fixture,
        tokenizer: "small", // the family's layers with the small vocabulary: a quick test
        overrides: { ...fixture.overrides, vocab_size: 512 },
        embeddingStd: 1,
      });
      const lora = resolveLoraConfig({ r: 4, targetModules: "all-linear" });
      model.addAdapter("a", randomAdapter(model.config, lora, 3, 1));
      const prompts = [[9, 205, 30, 151, 7], [44, 12, 300, 3], [5, 6, 7, 8, 9, 10, 11]];
      const adapters = [null, "a", "a"];
      const options = (i: number) => ({
        maxTokens: 10,
        temperature: 0,
        adapter: adapters[i],
        eosIds: [],
      });
      const alone: GenerationResult[] = [];
      for (let i = 0; i < prompts.length; i++) {
        alone.push(await model.generate({ ids: prompts[i] }, options(i)));
      }
      const batched = new BatchedModel(model, {
        maxBatch: 2,
        stepTokens: 4,
        maxLoras: 1,
        maxLoraRank: 4,
        maxContext: 32,
      });
      try {
        const together = await Promise.all(
          prompts.map((ids, i) => batched.generate({ ids }, options(i))),
        );
        together.forEach((r, i) => assert.deepEqual(r.tokens, alone[i].tokens, `request ${i}`));
      } finally {
        batched.dispose();
        model.dispose();
      }
    },
  );
}

gpuTest(
  "an aborted batched stream frees its row at once, and a request waiting for a slot takes it",
  async (gpu) => {
    const { model } = await loadFixture(gpu, { seed: 5, embeddingStd: 1 });
    const batched = new BatchedModel(model, { maxBatch: 1, maxContext: 96 });
    try {
      const abort = new AbortController();
      const first = batched.stream("The capital of France is", {
        maxTokens: 80,
        temperature: 0,
        eosIds: [],
        template: "none",
        signal: abort.signal,
      });
      await first.next(); // running: holds the only slot
      const waiting = batched.generate("A", {
        maxTokens: 4,
        temperature: 0,
        eosIds: [],
        template: "none",
      });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(batched.stats.waiting, 1, "the second request waits for the slot");
      abort.abort();
      let result = await first.next();
      while (!result.done) result = await first.next();
      assert.equal(result.value.finishReason, "abort");
      assert.ok(result.value.completionTokens < 80);
      assert.equal((await waiting).completionTokens, 4);
      assert.deepEqual([batched.stats.running, batched.stats.waiting], [0, 0]);
    } finally {
      batched.dispose();
      model.dispose();
    }
  },
);
