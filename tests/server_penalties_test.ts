/**
 * presence_penalty, frequency_penalty and min_p through the official `openai` client, on the
 * batched WebGPU server and on the CPU server: greedy output equals the reference model's greedy
 * decode under the host sampler's penalties (OpenAI's formula over the generated ids), and the
 * penalties change it.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Model } from "../lib/model/model.ts";
import { referenceLogits } from "../lib/reference/model.ts";
import { samplingDistribution, type SamplingOptions } from "../lib/generate/sampling.ts";
import { fixtureModelFiles, loadFixtureModel, withOpenAiClient } from "../server/_test_fixture.ts";
import { gpuTest } from "./_gpu.ts";
import { referenceWeights } from "./_lora_fixture.ts";

const PROMPT = "the the the the the";
const MAX_TOKENS = 10;

/** The reference model's greedy continuation of `prompt` under `options`' penalties, as text. */
async function referenceText(model: Model, options: SamplingOptions): Promise<string> {
  const weights = await referenceWeights(fixtureModelFiles());
  const promptIds = model.encodePrompt(PROMPT, "none");
  const ids = [...promptIds], V = model.config.vocabSize;
  const eos = new Set(model.tokenizer.eosIds);
  for (let k = 0; k < MAX_TOKENS; k++) {
    const logits = referenceLogits(model.config, weights, ids); // (T, V)
    const last = logits.subarray((ids.length - 1) * V);
    const id = samplingDistribution(last, { ...options, temperature: 0 }, ids, promptIds.length)
      .ids![0];
    if (eos.has(id)) break;
    ids.push(id);
  }
  return model.tokenizer.decode(ids.slice(promptIds.length));
}

/** The server's greedy completions of the prompt with each of `cases`' penalties. */
async function serverTexts(
  model: Model,
  batched: boolean,
  cases: { presence_penalty?: number; frequency_penalty?: number }[],
) {
  return await withOpenAiClient(model, {
    engine: {
      training: false,
      batch: batched ? { maxBatch: 4, maxLoras: 0, maxLoraRank: 4 } : null,
    },
  }, async (client) => {
    return await Promise.all(cases.map(async (penalties) => {
      const reply = await client.completions.create({
        model: "tiny",
        prompt: PROMPT,
        max_tokens: MAX_TOKENS,
        temperature: 0,
        ...penalties,
      });
      return reply.choices[0].text;
    }));
  });
}

const CASES: {
  penalties: { presence_penalty?: number; frequency_penalty?: number };
  options: SamplingOptions;
}[] = [
  { penalties: {}, options: {} },
  { penalties: { frequency_penalty: 2 }, options: { frequencyPenalty: 2 } },
  { penalties: { presence_penalty: 2 }, options: { presencePenalty: 2 } },
  {
    penalties: { presence_penalty: -2, frequency_penalty: 1.5 },
    options: { presencePenalty: -2, frequencyPenalty: 1.5 },
  },
];

async function checkServer(model: Model, batched: boolean): Promise<void> {
  const cpu = await loadFixtureModel("cpu"); // the tokenizer and config, for the reference
  const want = await Promise.all(CASES.map((c) => referenceText(cpu, c.options)));
  assert.ok(
    new Set(want).size >= 3,
    `the penalties change the reference's output: ${JSON.stringify(want)}`,
  );
  const got = await serverTexts(model, batched, CASES.map((c) => c.penalties));
  got.forEach((text, i) =>
    assert.equal(text, want[i], `case ${JSON.stringify(CASES[i].penalties)}`)
  );
}

gpuTest("penalties on the batched GPU server give the reference's greedy text", async (gpu) => {
  await checkServer(await loadFixtureModel("webgpu", gpu), true);
});

Deno.test("penalties on the CPU server give the reference's greedy text", async () => {
  await checkServer(await loadFixtureModel("cpu"), false);
});
