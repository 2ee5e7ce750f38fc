/**
 * Chained decode with GPU sampling: greedy output is identical to the one-token-at-a-time
 * path (host argmax over read-back logits), with at most one readback per 8 tokens and one
 * submit per token, and a repeated generation creates no bind group.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../lib/format/checkpoint.ts";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { DECODE_CHAIN, generateText, type LogitsStepper } from "../lib/generate/generate.ts";
import { readTokenizer } from "../lib/text/tokenizer_files.ts";
import { uploadWeights } from "../lib/model/gpu_weights.ts";
import { GpuEngine } from "../lib/model/gpu_engine.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { gpuTest } from "./_gpu.ts";

gpuTest(
  "chained GPU-sampled greedy decode equals one-by-one decode, with few readbacks (greedy with a repetition penalty)",
  async (gpu) => {
    const source = memoryModelSource("fixture", createFixtureModel({ seed: 21 }));
    const checkpoint = await readCheckpoint(source);
    const tokenizer = (await readTokenizer(source))!;
    const model = new GpuEngine(
      gpu,
      checkpoint.config,
      uploadWeights(gpu, checkpoint.config, checkpoint.tensors),
      {
        maxContext: 128,
      },
    );
    const prompt = tokenizer.encode("The capital of France is");
    const options = { maxTokens: 40, temperature: 0, repetitionPenalty: 4, eosIds: [] };
    // The host path: logits read back every token, argmax on the CPU.
    const oneByOne: LogitsStepper = {
      maxContext: model.maxContext,
      prefill: (ids, signal) => model.prefill(ids, signal),
      decode: (id, signal) => model.decode(id, signal),
    };
    const host = await generateText(oneByOne, tokenizer, prompt, options);
    const before = { ...model.counters };
    const chained = await generateText(model, tokenizer, prompt, options);
    const submits = model.counters.submits - before.submits;
    const readbacks = model.counters.readbacks - before.readbacks;
    assert.deepEqual(chained.tokens, host.tokens);
    assert.ok(new Set(host.tokens).size > 3, `a degenerate output proves little: ${host.tokens}`);
    assert.equal(chained.tokens.length, 40);
    assert.ok(
      readbacks <= 1 + Math.ceil(39 / DECODE_CHAIN),
      `${readbacks} readbacks for 40 tokens`,
    );
    assert.ok(submits <= 1 + Math.ceil(39 / DECODE_CHAIN), `${submits} submits for 40 tokens`);
    // Once the uniform buffer has grown to a chain's size (the first chained generation grows
    // it, and the next one binds the new buffer), the same generation records the same
    // dispatches again and reuses every bind group.
    await generateText(model, tokenizer, prompt, options);
    const warm = { ...model.counters };
    const again = await generateText(model, tokenizer, prompt, options);
    assert.deepEqual(again.tokens, host.tokens);
    assert.ok(warm.bindGroups > 0);
    assert.equal(model.counters.bindGroups - warm.bindGroups, 0, "bind groups created again");
    model.dispose();
  },
);
