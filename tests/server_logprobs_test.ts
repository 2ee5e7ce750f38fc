/**
 * Logprobs through the official `openai` client against the served app with continuous
 * batching: chat `logprobs` + `top_logprobs`, streamed and not; completions `echo` with
 * `max_tokens: 0` (lm-evaluation-harness's loglikelihood request) and with generation; several
 * and token-id prompts (choices at `prompt_index * n + i`, bad ids refused). Every
 * logprob is checked against the log-softmax of the plain-loop reference model's logits.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Model } from "../lib/model/model.ts";
import { loraScaleOf } from "../lib/lora/lora_config.ts";
import { referenceLogits } from "../lib/reference/model.ts";
import { logSoftmax } from "../lib/reference/logprobs.ts";
import type OpenAI from "openai";
import type { ServerEngine } from "../server/engine.ts";
import {
  fixtureModelFiles,
  loadFixtureModel,
  randomAdapter,
  withOpenAiClient,
} from "../server/_test_fixture.ts";
import { gpuTest } from "./_gpu.ts";
import { referenceWeights } from "./_lora_fixture.ts";

const BATCH = { maxBatch: 4, maxLoras: 1, maxLoraRank: 4 };
const close = (a: number, b: number) => Math.abs(a - b) <= 2e-3 + 1e-3 * Math.abs(b);

/**
 * The reference's greedy continuation of `promptIds` (`count` tokens) and the log-softmax of
 * the logits at every position of prompt plus continuation.
 */
async function referenceRun(model: Model, promptIds: number[], count: number, adapter: boolean) {
  const weights = await referenceWeights(fixtureModelFiles());
  const lora = adapter ? randomAdapter(model.config, 100) : null; // the fixture server's "a"
  const ref = lora ? { scale: loraScaleOf(lora.config), tensors: lora.tensors } : undefined;
  const V = model.config.vocabSize;
  const ids = [...promptIds];
  let lps: Float64Array[] = [];
  for (let k = 0; k <= count; k++) {
    const logits = referenceLogits(model.config, weights, ids, ref); // (T, V)
    lps = ids.map((_, t) => logSoftmax(logits.subarray(t * V, (t + 1) * V)));
    if (k === count) break;
    const last = lps.at(-1)!;
    ids.push(last.indexOf(Math.max(...last)));
  }
  return { generated: ids.slice(promptIds.length), lps }; // lps[t]: the distribution after ids[t]
}

/** A test of the base model served with batching, through the `openai` client. */
function batchedClientTest(
  name: string,
  body: (client: OpenAI, engine: ServerEngine, model: Model) => Promise<void>,
) {
  gpuTest(name, async (gpu) => {
    const model = await loadFixtureModel("webgpu", gpu);
    await withOpenAiClient(
      model,
      { engine: { training: false, batch: BATCH } },
      (client, engine) => body(client, engine, model),
    );
  });
}

/** The ids of the `k` largest entries of `lp`, lowest id first on ties. */
const topIds = (lp: Float64Array, k: number) =>
  [...lp.keys()].sort((a, b) => lp[b] - lp[a] || a - b).slice(0, k);

gpuTest(
  "chat logprobs and top_logprobs through the openai client equal the reference's",
  async (gpu) => {
    const model = await loadFixtureModel("webgpu", gpu);
    await withOpenAiClient(model, {
      adapters: ["a"],
      engine: { training: false, batch: BATCH },
    }, async (client, engine) => {
      const messages = [{ role: "user" as const, content: "tell me a story" }];
      const request = {
        model: "a",
        messages,
        max_tokens: 6,
        temperature: 0,
        logprobs: true,
        top_logprobs: 3,
      };
      const reply = await client.chat.completions.create(request);
      const content = reply.choices[0].logprobs!.content!;
      assert.equal(content.length, reply.usage!.completion_tokens, "one entry per token");
      assert.ok(content.length > 1);
      const promptIds = engine.encode(messages);
      const { generated, lps } = await referenceRun(model, promptIds, content.length, true);
      const text = (id: number) => model.tokenizer.decode([id], { skipSpecialTokens: false });
      content.forEach((entry, k) => {
        const lp = lps[promptIds.length - 1 + k]; // the distribution of generated token k
        assert.equal(entry.token, text(generated[k]), `token ${k}`);
        assert.ok(
          close(entry.logprob, lp[generated[k]]),
          `token ${k}: ${entry.logprob} vs ${lp[generated[k]]}`,
        );
        assert.deepEqual(entry.bytes, [...new TextEncoder().encode(entry.token)]);
        const want = topIds(lp, 3);
        assert.deepEqual(entry.top_logprobs.map((t) => t.token), want.map(text), `top of ${k}`);
        entry.top_logprobs.forEach((t, j) => assert.ok(close(t.logprob, lp[want[j]])));
      });

      const stream = await client.chat.completions.create({ ...request, stream: true });
      const streamed = [];
      for await (const chunk of stream) streamed.push(...chunk.choices[0]?.logprobs?.content ?? []);
      assert.deepEqual(streamed, content, "a stream carries the same logprobs, token by token");

      const plain = await client.chat.completions.create({
        ...request,
        logprobs: false,
        top_logprobs: undefined,
      });
      assert.equal(plain.choices[0].logprobs, null);
    });
  },
);

batchedClientTest(
  "completions echo with max_tokens 0 gives the prompt's logprobs, as lm-evaluation-harness asks",
  async (client, engine, model) => {
    const prompt = "Once upon a time there was a little dragon";
    const scored = await client.completions.create({
      model: "tiny",
      prompt,
      max_tokens: 0,
      echo: true,
      logprobs: 2,
    });
    const choice = scored.choices[0];
    assert.equal(choice.text, prompt);
    const promptIds = engine.encode(prompt);
    const { lps } = await referenceRun(model, promptIds, 0, false);
    const lp = choice.logprobs!;
    assert.equal(lp.tokens!.length, promptIds.length);
    assert.equal(lp.token_logprobs![0], null, "the first token has no logprob");
    assert.equal(lp.top_logprobs![0], null);
    for (let t = 1; t < promptIds.length; t++) {
      const want = lps[t - 1][promptIds[t]];
      assert.ok(
        close(lp.token_logprobs![t]!, want),
        `token ${t}: ${lp.token_logprobs![t]} vs ${want}`,
      );
      const top = lp.top_logprobs![t]!;
      assert.ok(lp.tokens![t] in top, "the token itself is among its top logprobs");
      assert.ok(Object.keys(top).length <= 3);
      for (const id of topIds(lps[t - 1], 2)) {
        const name = model.tokenizer.decode([id], { skipSpecialTokens: false });
        assert.ok(close(top[name], lps[t - 1][id]), `top ${name} of ${t}`);
      }
    }
    assert.deepEqual(lp.text_offset![0], 0);
    lp.text_offset!.slice(1).forEach((o, i) =>
      assert.equal(o, lp.text_offset![i] + lp.tokens![i].length)
    );
    assert.equal(scored.usage!.completion_tokens, 0);

    // Echo with generation, streamed: the prompt's logprobs, then the generated tokens'.
    const stream = await client.completions.create({
      model: "tiny",
      prompt,
      max_tokens: 4,
      temperature: 0,
      echo: true,
      logprobs: 1,
      stream: true,
    });
    let text = "";
    const tokens: string[] = [], logprobs: (number | null)[] = [];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.text;
        tokens.push(...c.logprobs?.tokens ?? []);
        logprobs.push(...c.logprobs?.token_logprobs ?? []);
      }
    }
    assert.ok(text.startsWith(prompt));
    assert.deepEqual(tokens.slice(0, promptIds.length), lp.tokens);
    assert.deepEqual(logprobs.slice(0, promptIds.length), lp.token_logprobs);
    const { generated, lps: all } = await referenceRun(model, promptIds, 4, false);
    assert.equal(logprobs.length, promptIds.length + 4);
    generated.forEach((id, k) => {
      const want = all[promptIds.length - 1 + k][id];
      assert.ok(close(logprobs[promptIds.length + k]!, want), `generated ${k}`);
    });
  },
);

batchedClientTest(
  "completions take several prompts and token-id prompts, scoring the given ids exactly",
  async (client, engine, model) => {
    const V = model.config.vocabSize;
    const given = [[7, V - 1, 3, 42, 3], [V - 2, 11]]; // no BOS: the ids are scored as they are
    const scored = await client.completions.create({
      model: "tiny",
      prompt: given,
      max_tokens: 0,
      echo: true,
      logprobs: 1,
    });
    assert.deepEqual(scored.choices.map((c) => c.index), [0, 1]);
    assert.equal(scored.usage!.prompt_tokens, 7, "usage sums over the prompts");
    for (const [p, ids] of given.entries()) {
      const choice = scored.choices[p];
      assert.equal(choice.text, model.tokenizer.decode(ids, { skipSpecialTokens: false }));
      const { lps } = await referenceRun(model, ids, 0, false);
      const got = choice.logprobs!.token_logprobs!;
      assert.equal(got.length, ids.length);
      assert.equal(got[0], null);
      for (let t = 1; t < ids.length; t++) {
        assert.ok(close(got[t]!, lps[t - 1][ids[t]]), `prompt ${p} token ${t}`);
      }
    }

    // Two prompts (text and ids) with n = 2, streamed: choice i of prompt p at p * 2 + i.
    const text = "Once upon a time";
    const prompts = [engine.encode(text), [5, 9, 14]];
    const stream = await client.completions.create({
      model: "tiny",
      prompt: [text, prompts[1]] as unknown as string[],
      n: 2,
      max_tokens: 3,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const texts = ["", "", "", ""];
    let promptTokens = 0;
    for await (const chunk of stream) {
      for (const c of chunk.choices) texts[c.index] += c.text;
      promptTokens = chunk.usage?.prompt_tokens ?? promptTokens;
    }
    assert.equal(promptTokens, prompts[0].length + 3);
    for (const [p, ids] of prompts.entries()) {
      const { generated } = await referenceRun(model, ids, 3, false);
      const want = model.tokenizer.decode(generated);
      assert.deepEqual([texts[2 * p], texts[2 * p + 1]], [want, want], `prompt ${p}`);
    }

    const refused = async (prompt: unknown, param: string) => {
      await assert.rejects(
        client.completions.create({ model: "tiny", prompt: prompt as string, max_tokens: 1 }),
        (e: { status: number; param: string }) => e.status === 400 && e.param === param,
        JSON.stringify(prompt),
      );
    };
    await refused([1, V], "prompt");
    await refused([[1, 2], [3, V + 5]], "prompt.1");
    await refused(["fine", [1, -1]], "prompt.1");
    await refused([[1, 2.5]], "prompt.0");
    await refused([], "prompt");
    await refused([[]], "prompt.0");
    await refused(Array.from({ length: model.maxContext + 1 }, () => 1), "prompt");
  },
);
