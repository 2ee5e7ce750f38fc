/**
 * Logprobs of batched generation (computed on the GPU) against the plain-loop reference model's
 * logits: each generated token's logprob and top alternatives, each prompt token's (OpenAI's
 * echo, scored while the prompt is prefilled in chunks that share steps with other requests),
 * with an adapter and without, and `scorePrompt` (echo with max_tokens 0).
 *
 * @module
 */
import assert from "node:assert/strict";
import { BatchedModel } from "../lib/model/batched_model.ts";
import { loraScaleOf, resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { referenceLogits } from "../lib/reference/model.ts";
import { tokenLogprob } from "../lib/reference/logprobs.ts";
import type { TokenLogprob } from "../lib/ops/logprobs.ts";
import type { LoraWeights } from "../lib/lora/lora_weights.ts";
import type { ReferenceWeights } from "../lib/reference/model_weights.ts";
import type { ModelConfig } from "../lib/model/config.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture, randomAdapter, referenceWeights } from "./_lora_fixture.ts";

/** Asserts that `got` is the reference logprob of `target` after `logits` (V), top-k included. */
function assertLogprob(
  got: TokenLogprob | null,
  logits: Float32Array,
  target: number,
  what: string,
): void {
  assert.ok(got, `${what}: no logprobs`);
  const want = tokenLogprob(logits, target, got.top.length);
  const close = (a: number, b: number) => Math.abs(a - b) <= 2e-3 + 1e-3 * Math.abs(b);
  assert.ok(close(got.logprob, want.logprob), `${what}: ${got.logprob} vs ${want.logprob}`);
  assert.deepEqual(got.top.map((t) => t.id), want.top.map((t) => t.id), `${what}: top ids`);
  got.top.forEach((t, k) => assert.ok(close(t.logprob, want.top[k].logprob), `${what}: top ${k}`));
}

/** The reference logits (T, V) of `ids`, rows by position. */
function referenceRows(
  config: ModelConfig,
  weights: ReferenceWeights,
  ids: number[],
  lora: LoraWeights | null,
): (t: number) => Float32Array {
  const adapter = lora ? { scale: loraScaleOf(lora.config), tensors: lora.tensors } : undefined;
  const logits = referenceLogits(config, weights, ids, adapter); // (T, V)
  const V = config.vocabSize;
  return (t) => logits.subarray(t * V, (t + 1) * V);
}

gpuTest(
  "batched logprobs of generated and prompt tokens equal the reference model's log-softmax",
  async (gpu) => {
    const { files, model } = await loadFixture(gpu, { seed: 5, embeddingStd: 1 });
    const lora = randomAdapter(
      model.config,
      resolveLoraConfig({ r: 4, targetModules: "all-linear" }),
      1,
      0.5,
    );
    model.addAdapter("a", lora);
    const weights = await referenceWeights(files);
    const batched = new BatchedModel(model, {
      maxBatch: 3, // a scored prompt chunk is limited by the logits rows left in its step
      stepTokens: 7, // prompts longer than a step are scored chunk by chunk
      maxLoras: 1,
      maxLoraRank: 4,
      maxContext: 96,
    });
    try {
      const common = { maxTokens: 6, temperature: 0, template: "none" as const, eosIds: [] };
      const streamed: TokenLogprob[] = [];
      const streamedIds: number[] = [];
      const plainRun = (async () => {
        const chunks = batched.chunks("Once upon a time there was", {
          ...common,
          logprobs: { tokens: 3 },
        });
        while (true) {
          const next = await chunks.next();
          if (next.done) return next.value;
          assert.equal(next.value.logprobs.length, next.value.tokenIds.length);
          streamed.push(...next.value.logprobs.map((l) => l!));
          streamedIds.push(...next.value.tokenIds);
        }
      })();
      const [plain, scored, other] = await Promise.all([
        plainRun,
        batched.generate("The capital of France is a city called", {
          ...common,
          adapter: "a",
          temperature: 0.9, // logprobs are of the raw logits, whatever the sampling
          seed: 3,
          logprobs: { tokens: 0, prompt: 2 },
        }),
        batched.generate("1 2 3 4 5 6 7 8 9 10 11 12", common),
      ]);
      assert.equal(other.promptLogprobs, null);
      assert.equal(other.tokenLogprobs, null);
      assert.equal(plain.promptLogprobs, null);
      assert.deepEqual(streamed, plain.tokenLogprobs!.slice(0, streamed.length));
      assert.deepEqual(streamedIds, plain.tokens.slice(0, streamedIds.length));
      for (const [name, result, adapter] of [["base", plain, null], ["a", scored, lora]] as const) {
        const P = result.promptIds.length;
        const row = referenceRows(
          model.config,
          weights,
          [...result.promptIds, ...result.tokens],
          adapter,
        );
        assert.equal(result.tokenLogprobs!.length, result.tokens.length);
        result.tokens.forEach((id, k) =>
          assertLogprob(result.tokenLogprobs![k], row(P - 1 + k), id, `${name} token ${k}`)
        );
      }
      const P = scored.promptIds.length;
      assert.ok(P > 7, "the scored prompt is longer than a step");
      const row = referenceRows(model.config, weights, scored.promptIds, lora);
      assert.equal(scored.promptLogprobs!.length, P);
      assert.equal(scored.promptLogprobs![0], null);
      for (let t = 1; t < P; t++) {
        assertLogprob(scored.promptLogprobs![t], row(t - 1), scored.promptIds[t], `prompt ${t}`);
      }
      const alone = await batched.scorePrompt("The capital of France is a city called", 2, {
        adapter: "a",
        template: "none",
      });
      assert.deepEqual(alone.promptIds, scored.promptIds);
      for (let t = 1; t < P; t++) {
        assertLogprob(alone.promptLogprobs[t], row(t - 1), scored.promptIds[t], `scored ${t}`);
      }
    } finally {
      batched.dispose();
      model.dispose();
    }
  },
);
