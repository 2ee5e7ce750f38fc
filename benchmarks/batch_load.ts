/**
 * Load test of continuous batching through the HTTP server: N concurrent streaming clients
 * (a third on the base model, the rest on two adapters) against the same model served without
 * batching and with it, in one run, optionally while a fine-tuning job trains. Prints
 * aggregate generated tokens per second, the speedup, failures, and the p50/p95 time to first
 * token and between tokens of each.
 *
 *   deno run -A benchmarks/batch_load.ts [--clients 16] [--tokens 32] [--model tiny|h256]
 *     [--max-batch 16] [--train]
 *
 * `tiny` is the tiny fixture (hidden 64, 2 layers); `h256` a random Llama of hidden 256 and
 * 4 layers (vocabulary of the small tokenizer).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { loadModel, memoryModelSource } from "../mod.ts";
import { FIXTURE_ID, fixtureServer, serveApp } from "../server/_test_fixture.ts";
import type { EngineOptions } from "../server/engine.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "16" },
    tokens: { type: "string", default: "32" },
    model: { type: "string", default: "tiny" },
    "max-batch": { type: "string", default: "16" },
    train: { type: "boolean", default: false },
  },
}).values;
const clients = Number(flags.clients), tokens = Number(flags.tokens);
const overrides = flags.model === "h256"
  ? {
    hidden_size: 256,
    intermediate_size: 640,
    num_hidden_layers: 4,
    num_attention_heads: 8,
    num_key_value_heads: 2,
    head_dim: 32,
  }
  : {};
const files = createFixtureModel({ preset: "tiny", tokenizer: "small", seed: 7, overrides });
const model = await loadModel(memoryModelSource(FIXTURE_ID, files), {
  backend: "webgpu",
  maxContext: 256,
});

/** One client's outcome. */
interface ClientResult {
  ok: boolean;
  tokens: number;
  ttft: number;
  gaps: number[];
}

/** A streaming completion; times its first text and the gaps between texts. */
async function client(url: string, i: number): Promise<ClientResult> {
  const started = performance.now();
  const response = await fetch(`${url}/v1/completions`, {
    method: "POST",
    body: JSON.stringify({
      model: ["tiny", "a1", "a2"][i % 3],
      prompt: `Human: question number ${i}, please answer at length\nAssistant:`,
      max_tokens: tokens,
      temperature: 0.8,
      seed: i,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    return { ok: false, tokens: 0, ttft: 0, gaps: [] };
  }
  let ttft = -1, last = 0, generated = 0, buffer = "";
  const gaps: number[] = [];
  for await (const piece of response.body.pipeThrough(new TextDecoderStream())) {
    buffer += piece;
    const events = buffer.split("\n\n");
    buffer = events.pop()!;
    for (const event of events) {
      const data = event.slice("data: ".length);
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.usage) generated = chunk.usage.completion_tokens;
      if (!chunk.choices?.[0]?.text) continue;
      const now = performance.now();
      if (ttft < 0) ttft = now - started;
      else gaps.push(now - last);
      last = now;
    }
  }
  return { ok: true, tokens: generated, ttft: Math.max(ttft, 0), gaps };
}

/** The q-quantile of `values` (nearest rank). */
function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Runs the clients against a server with `engine` options and summarises. */
async function phase(name: string, engine: Partial<EngineOptions>) {
  const { app, engine: served } = await fixtureServer(model, { adapters: ["a1", "a2"], engine });
  const server = serveApp(app);
  try {
    await client(server.url, 1); // loads the adapters and builds the pipelines
    await client(server.url, 2);
    let job: string | null = null;
    if (flags.train) {
      const data = [1, 2, 3, 4].map((i) => ({ instruction: `Q${i}?`, output: `A${i}.` }));
      const response = await fetch(`${server.url}/v1/fine_tuning/jobs`, {
        method: "POST",
        body: JSON.stringify({
          model: FIXTURE_ID,
          training_data: data,
          hyperparameters: { max_steps: 100000, lora_r: 4 },
        }),
      });
      job = (await response.json()).id;
    }
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: clients }, (_, i) => client(server.url, i)),
    );
    const seconds = (performance.now() - started) / 1000;
    if (job) await fetch(`${server.url}/v1/fine_tuning/jobs/${job}/cancel`, { method: "POST" });
    const generated = results.reduce((n, r) => n + r.tokens, 0);
    const ttfts = results.filter((r) => r.ok).map((r) => r.ttft / 1000);
    const gaps = results.flatMap((r) => r.gaps.map((g) => g / 1000));
    const out = {
      name,
      tokPerS: generated / seconds,
      generated,
      seconds,
      failures: results.filter((r) => !r.ok).length,
      ttftP50: quantile(ttfts, 0.5),
      ttftP95: quantile(ttfts, 0.95),
      itlP50: quantile(gaps, 0.5),
      itlP95: quantile(gaps, 0.95),
    };
    if (served.batched) served.batched.dispose();
    return out;
  } finally {
    await server.close();
    await served.close();
  }
}

const unbatched = await phase("unbatched", {});
const batched = await phase("batched", {
  batch: { maxBatch: Number(flags["max-batch"]), maxLoras: 2, maxLoraRank: 16 },
});
const f = (x: number) => x.toFixed(2);
console.log(
  `${clients} clients × ${tokens} tokens, model ${flags.model}${
    flags.train ? ", training job running" : ""
  }`,
);
console.log(
  "| server | tok/s | tokens | seconds | failures | TTFT p50 / p95 s | between tokens p50 / p95 s |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const r of [unbatched, batched]) {
  console.log(
    `| ${r.name} | ${r.tokPerS.toFixed(1)} | ${r.generated} | ${f(r.seconds)} | ${r.failures} | ` +
      `${f(r.ttftP50)} / ${f(r.ttftP95)} | ${f(r.itlP50)} / ${f(r.itlP95)} |`,
  );
}
console.log(`speedup ${(batched.tokPerS / unbatched.tokPerS).toFixed(2)}×`);
model.dispose();
