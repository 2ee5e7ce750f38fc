/**
 * Load test of continuous batching through the HTTP server, in one run: one streaming client
 * on the batched server (the single-stream rate), then N concurrent streaming clients (a third
 * on the base model, the rest on two adapters) against the same model served without batching
 * and with it, each phase optionally while a fine-tuning job trains. Prints aggregate
 * generated tokens per second, the speedups over one stream and over the unbatched server,
 * failures, the p50/p95 time to first token and between tokens, and the training steps taken
 * meanwhile; and writes the table as the `batch_load` block of BENCHMARKS.md with `--train`, or
 * the `batch_throughput` block without (with the command and the machine), keeping the rest of
 * the file.
 *
 *   deno run -A benchmarks/batch_load.ts [--clients 16] [--tokens 32]
 *     [--model tiny|h256|h1024|llama-8x1024] [--max-batch 16] [--train] [--report BENCHMARKS.md]
 *
 * `tiny` is the tiny fixture (hidden 64, 2 layers); `h256` a random Llama of hidden 256 and
 * 4 layers, `h1024` one of the issue's layers (8 layers, hidden 1024), both with the small
 * tokenizer's vocabulary; `llama-8x1024` the issue's model (8 layers, hidden 1024, Llama 3's
 * 128k vocabulary, bf16). `--report ""` writes nothing.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { loadModel, memoryModelSource } from "../mod.ts";
import { FIXTURE_ID, fixtureServer, serveApp } from "../server/_test_fixture.ts";
import type { EngineOptions } from "../server/engine_options.ts";
import { quantile } from "./_batched_decode.ts";
import { machineLine } from "./_machine.ts";
import { writeReportBlock } from "./_report_blocks.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    clients: { type: "string", default: "16" },
    tokens: { type: "string", default: "32" },
    model: { type: "string", default: "tiny" },
    "max-batch": { type: "string", default: "16" },
    train: { type: "boolean", default: false },
    report: { type: "string", default: "BENCHMARKS.md" },
  },
}).values;
const clients = Number(flags.clients), tokens = Number(flags.tokens);
const SIZES: Record<string, Record<string, number>> = {
  tiny: {},
  h256: {
    hidden_size: 256,
    intermediate_size: 640,
    num_hidden_layers: 4,
    num_attention_heads: 8,
    num_key_value_heads: 2,
    head_dim: 32,
  },
};
const overrides = SIZES[flags.model];
if (!overrides && !["h1024", "llama-8x1024"].includes(flags.model)) {
  throw new Error(`Unknown --model ${flags.model}: tiny, h256, h1024 or llama-8x1024`);
}
const files = overrides
  ? createFixtureModel({ preset: "tiny", tokenizer: "small", seed: 7, overrides })
  : createFixtureModel({ // h1024: the layers with the small tokenizer's vocabulary
    preset: "llama-8x1024",
    seed: 7,
    ...(flags.model === "h1024" ? { tokenizer: "small" as const } : {}),
  });
const model = await loadModel(memoryModelSource(FIXTURE_ID, files), {
  backend: "webgpu",
  maxContext: 256,
});
const machine = await machineLine(model.gpu!);

/** The server takes JSON bodies only with their content type (cross-site protection). */
const JSON_HEADERS = { "content-type": "application/json" };

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
    headers: JSON_HEADERS,
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

/** The highest training step in a job's events, 0 before its first step. */
async function lastStep(url: string, job: string): Promise<number> {
  const events = await (await fetch(`${url}/v1/fine_tuning/jobs/${job}/events?limit=1000`)).json();
  const steps = (events.data as { data?: { step?: number } }[]).map((e) => e.data?.step ?? 0);
  return Math.max(0, ...steps);
}

/** Runs `count` clients against a server with `engine` options and summarises. */
async function phase(name: string, engine: Partial<EngineOptions>, count: number) {
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
        headers: JSON_HEADERS,
        body: JSON.stringify({
          model: FIXTURE_ID,
          training_data: data,
          hyperparameters: { max_steps: 100000, lora_r: 4 },
        }),
      });
      job = (await response.json()).id;
    }
    const stepsBefore = job ? await lastStep(server.url, job) : 0;
    const started = performance.now();
    const results = await Promise.all(
      Array.from({ length: count }, (_, i) => client(server.url, i)),
    );
    const seconds = (performance.now() - started) / 1000;
    const trainingSteps = job ? await lastStep(server.url, job) - stepsBefore : null;
    if (job) await fetch(`${server.url}/v1/fine_tuning/jobs/${job}/cancel`, { method: "POST" });
    const generated = results.reduce((n, r) => n + r.tokens, 0);
    const ttfts = results.filter((r) => r.ok).map((r) => r.ttft / 1000);
    const gaps = results.flatMap((r) => r.gaps.map((g) => g / 1000));
    const out = {
      name,
      clients: count,
      trainingSteps,
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

const batching = {
  batch: { maxBatch: Number(flags["max-batch"]), maxLoras: 2, maxLoraRank: 16 },
};
const single = await phase("batched, one stream", batching, 1);
const unbatched = await phase("unbatched", {}, clients);
const batched = await phase("batched", batching, clients);
const f = (x: number) => x.toFixed(2);
const command = ["deno run -A benchmarks/batch_load.ts", ...Deno.args].join(" ");
const lines = [
  "## Serving many users: continuous batching under load",
  "",
  `\`${command}\` on ${machine}: model \`${flags.model}\`, ${clients} streaming clients ` +
  `(a third on the base model, the rest on two adapters) × ${tokens} tokens each, ` +
  `sampled at temperature 0.8${flags.train ? ", while a fine-tuning job trains" : ""}.`,
  "",
  "| server | clients | tok/s | tokens | seconds | failures | TTFT p50 / p95 s | between tokens p50 / p95 s | training steps meanwhile |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...[single, unbatched, batched].map((r) =>
    `| ${r.name} | ${r.clients} | ${r.tokPerS.toFixed(1)} | ${r.generated} | ${f(r.seconds)} | ` +
    `${r.failures} | ${f(r.ttftP50)} / ${f(r.ttftP95)} | ${f(r.itlP50)} / ${f(r.itlP95)} | ` +
    `${r.trainingSteps ?? "no job"} |`
  ),
  "",
  ...(flags.model === "llama-8x1024" ? [] : [
    "The issue's target is `--model llama-8x1024` (8 layers, hidden 1024, 128k vocabulary); " +
    "this run used a smaller model, the largest that finished in the time at hand on this machine.",
    "",
  ]),
  ...(flags.train
    ? [
      "Training steps meanwhile: the steps the fine-tuning job made during the phase. The " +
      "unbatched server holds a generation turn for a whole request, so the job waits; the " +
      "batched one takes a turn per step (or chain), so the job keeps training and the clients " +
      "share the GPU with it.",
      "",
    ]
    : []),
  `Aggregate: ${(batched.tokPerS / single.tokPerS).toFixed(2)}× one stream, ` +
  `${(batched.tokPerS / unbatched.tokPerS).toFixed(2)}× the unbatched server.`,
];
const markdown = lines.join("\n");
console.log(markdown);
// With a training job it is the load test; without, the throughput of batching alone.
const block = flags.train ? "batch_load" : "batch_throughput";
if (flags.report) await writeReportBlock(flags.report, block, markdown);
model.dispose();
