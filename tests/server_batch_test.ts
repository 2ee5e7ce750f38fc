/**
 * The server with continuous batching (WebGPU): concurrent greedy requests on two adapters and
 * the base give the text each gets alone from a server without batching; `n` > 1 through the
 * official `openai` client, its choices sharing one prefill; a batch step takes a GPU turn like
 * a training step.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Model } from "../lib/model/model.ts";
import { fixtureServer, loadFixtureModel, withOpenAiClient } from "../server/_test_fixture.ts";
import { gpuTest } from "./_gpu.ts";
import type { Gpu } from "../lib/gpu/device.ts";

let shared: Promise<Model> | null = null;
const gpuModel = (gpu: Gpu) => (shared ??= loadFixtureModel("webgpu", gpu));
/** The fields of a completion response these tests read. */
interface Completion {
  choices: { text: string }[];
  usage: Record<string, number>;
}

const BATCH = { maxBatch: 4, maxLoras: 2, maxLoraRank: 8 };

const REQUESTS = [
  { model: "tiny", prompt: "Human: hello\nAssistant:" },
  { model: "a", prompt: "Human: hello\nAssistant:" },
  { model: "b", prompt: "Human: what is two plus two?\nAssistant:" },
  { model: "a", prompt: "Once upon a time" },
  { model: "tiny", prompt: "The sky is" },
  { model: "b", prompt: "Human: hello\nAssistant:" },
].map((r) => ({ ...r, max_tokens: 16, temperature: 0 }));

async function complete(
  app: { request: (path: string, init: RequestInit) => Response | Promise<Response> },
  body: unknown,
): Promise<Completion> {
  const response = await app.request("/v1/completions", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  const json = await response.json();
  assert.equal(response.status, 200, JSON.stringify(json));
  return json;
}

gpuTest(
  "concurrent requests with different adapters give the same text as sequential ones",
  async (gpu) => {
    const model = await gpuModel(gpu);
    const sequential = await fixtureServer(model, {
      adapters: ["a", "b"],
      engine: { training: false },
    });
    const alone: Completion[] = [];
    for (const r of REQUESTS) alone.push(await complete(sequential.app, r));
    const batched = await fixtureServer(model, {
      adapters: ["a", "b"],
      engine: { training: false, batch: BATCH },
    });
    assert.ok(batched.engine.batched, "the WebGPU engine batches");
    const together = await Promise.all(REQUESTS.map((r) => complete(batched.app, r)));
    together.forEach((got, i) => {
      assert.equal(
        got.choices[0].text,
        alone[i].choices[0].text,
        `request ${i} (${REQUESTS[i].model})`,
      );
      assert.deepEqual(got.usage, alone[i].usage);
    });
    const texts = new Set(
      alone.filter((_, i) => REQUESTS[i].prompt.startsWith("Human: hello")).map((r) =>
        r.choices[0].text
      ),
    );
    assert.equal(texts.size, 3, "the base and both adapters answer the same prompt differently");
    const stats = batched.engine.batched!.stats;
    assert.ok(
      stats.sampled / stats.steps > 1.5,
      `${stats.sampled} samples in ${stats.steps} steps: requests shared steps`,
    );
    batched.engine.batched!.dispose();
  },
);

gpuTest(
  "n > 1 through the openai client: greedy choices repeat the single answer, seeded ones draw seed + i",
  async (gpu) => {
    const model = await gpuModel(gpu);
    await withOpenAiClient(model, {
      adapters: ["a"],
      engine: { training: false, batch: BATCH },
    }, async (client, engine) => {
      const single = await client.completions.create({
        model: "a",
        prompt: "Human: hi\nAssistant:",
        max_tokens: 12,
        temperature: 0,
      });
      const greedy = await client.completions.create({
        model: "a",
        prompt: "Human: hi\nAssistant:",
        max_tokens: 12,
        temperature: 0,
        n: 3,
      });
      assert.deepEqual(greedy.choices.map((c) => c.index), [0, 1, 2]);
      for (const c of greedy.choices) assert.equal(c.text, single.choices[0].text);
      assert.equal(greedy.usage!.completion_tokens, 3 * single.usage!.completion_tokens);
      assert.equal(greedy.usage!.prompt_tokens, single.usage!.prompt_tokens);
      const { sharedRows } = engine.batched!.stats;
      const promptTokens = single.usage!.prompt_tokens;
      assert.equal(sharedRows, 2 * (promptTokens - 1), "two choices copied the first's prefill");

      const seeded = await client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "tell me a story" }],
        max_tokens: 12,
        temperature: 1,
        seed: 40,
        n: 2,
      });
      const second = await client.chat.completions.create({
        model: "tiny",
        messages: [{ role: "user", content: "tell me a story" }],
        max_tokens: 12,
        temperature: 1,
        seed: 41,
      });
      assert.equal(seeded.choices.length, 2);
      assert.notEqual(seeded.choices[0].message.content, seeded.choices[1].message.content);
      assert.equal(seeded.choices[1].message.content, second.choices[0].message.content);

      const stream = await client.completions.create({
        model: "tiny",
        prompt: "The sky is",
        max_tokens: 8,
        temperature: 0,
        n: 2,
        stream: true,
      });
      const texts = ["", ""];
      const finished = [false, false];
      for await (const chunk of stream) {
        for (const c of chunk.choices) {
          texts[c.index] += c.text;
          if (c.finish_reason) finished[c.index] = true;
        }
      }
      assert.deepEqual(finished, [true, true]);
      assert.equal(texts[0], texts[1]);
      assert.ok(texts[0].length > 0);
    });
  },
);
