/**
 * Decode throughput of continuous batching in the library, without a server in between: one
 * greedy stream on a {@linkcode BatchedModel}, then N concurrent greedy streams (a third on
 * the base model, the rest on two LoRA adapters, as the server's load test mixes them), each
 * D tokens. Reports each phase's aggregate tokens/s, the p50/p95 time to first token and
 * between tokens, and the batched ÷ one-stream speedup (issue 15's goal: at least 5× with 16
 * streams, which a bandwidth-bound GPU allows and a compute-bound CPU adapter does not).
 *
 * @module
 */
import { initLoraWeights } from "../lib/lora/lora_weights.ts";
import { resolveLoraConfig } from "../lib/lora/lora_config.ts";
import { BatchedModel } from "../lib/model/batched_model.ts";
import type { Model } from "../lib/model/model.ts";
import { type DecodeStepProfile, profileDecodeSteps } from "./_decode_step_profile.ts";
import { markdownTable, rate, ratio } from "./_table.ts";

/** One phase: `streams` concurrent generations of `tokens` tokens. */
export interface BatchedDecodePhase {
  /** Concurrent streams. */
  streams: number;
  /** Tokens generated in all. */
  tokens: number;
  /** Wall-clock seconds from the first request to the last token. */
  seconds: number;
  /** Time to first token (the prefill included), p50 and p95, seconds. */
  ttft: { p50: number; p95: number };
  /** Time between a stream's tokens, p50 and p95, seconds. */
  gap: { p50: number; p95: number };
}

/** Both phases on one model. */
export interface BatchedDecodeResult {
  /** The model's name in the table. */
  label: string;
  /** Tokens per stream. */
  tokensPerStream: number;
  /** One stream. */
  one: BatchedDecodePhase;
  /** N streams at once. */
  batched: BatchedDecodePhase;
  /** One decode step at one row and at N, by kernel (with `profile`). */
  steps?: DecodeStepProfile[];
}

/** The q-quantile of `values` (nearest rank); 0 for none. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** The adapters' names; stream i uses ADAPTERS[i % 3] (null: the base model). */
const ADAPTERS = [null, "bench-a1", "bench-a2"] as const;

/** One greedy stream's token times (ms since `started`). */
async function stream(
  batched: BatchedModel,
  i: number,
  tokens: number,
  started: number,
): Promise<number[]> {
  const times: number[] = [];
  const chunks = batched.chunks(
    `Human: question number ${i}, please answer at length\nAssistant:`,
    {
      maxTokens: tokens,
      temperature: 0,
      adapter: ADAPTERS[i % ADAPTERS.length],
    },
  );
  for await (const chunk of chunks) {
    for (const _ of chunk.tokenIds) times.push(performance.now() - started);
  }
  return times;
}

/** Runs `streams` streams at once and summarises them. */
async function phase(
  batched: BatchedModel,
  streams: number,
  tokens: number,
): Promise<BatchedDecodePhase> {
  const started = performance.now();
  const all = await Promise.all(
    Array.from({ length: streams }, (_, i) => stream(batched, i, tokens, started)),
  );
  const seconds = (performance.now() - started) / 1000;
  const firsts = all.filter((t) => t.length).map((t) => t[0] / 1000);
  const gaps = all.flatMap((t) => t.slice(1).map((ms, j) => (ms - t[j]) / 1000));
  return {
    streams,
    tokens: all.reduce((n, t) => n + t.length, 0),
    seconds,
    ttft: { p50: quantile(firsts, 0.5), p95: quantile(firsts, 0.95) },
    gap: { p50: quantile(gaps, 0.5), p95: quantile(gaps, 0.95) },
  };
}

/**
 * Measures `model` (WebGPU): a warm-up of every stream's adapter, one stream, then `streams`
 * at once, `tokens` greedy tokens each (a random model's EOS can end a stream early: the
 * tokens are counted, not assumed); with `profile` (an adapter with `timestamp-query`), then
 * one decode step at one row and at `streams` rows, by kernel (`_decode_step_profile.ts`).
 * Adds two rank-16 adapters to `model` and removes them.
 */
export async function measureBatchedDecode(
  model: Model,
  label: string,
  options: { streams: number; tokens: number; profile?: boolean },
): Promise<BatchedDecodeResult> {
  const lora = resolveLoraConfig({ r: 16, alpha: 32, targetModules: "all-linear" });
  ADAPTERS.forEach((name, i) =>
    name && model.addAdapter(name, initLoraWeights(model.config, lora, i))
  );
  const batched = new BatchedModel(model, {
    maxBatch: options.streams,
    maxLoras: 2,
    maxLoraRank: 16,
  });
  try {
    await phase(batched, ADAPTERS.length, 2); // pipelines, bind groups, adapter slots
    const one = await phase(batched, 1, options.tokens);
    const all = await phase(batched, options.streams, options.tokens);
    const steps = options.profile
      ? await profileDecodeSteps(
        model.gpu!,
        model.config,
        [1, options.streams],
        (rows, tokens) => phase(batched, rows, tokens),
      )
      : undefined;
    return { label, tokensPerStream: options.tokens, one, batched: all, steps };
  } finally {
    batched.dispose();
    ADAPTERS.forEach((name) => name && model.removeAdapter(name));
  }
}

/** The table of {@linkcode measureBatchedDecode}'s results. */
export function batchedDecodeTable(results: BatchedDecodeResult[]): string {
  const s = (x: number) => x.toFixed(2);
  return markdownTable(
    [
      "model",
      "streams",
      "tokens",
      "seconds",
      "tok/s",
      "÷ one stream",
      "TTFT p50 / p95 s",
      "between tokens p50 / p95 s",
    ],
    results.flatMap((r) =>
      [r.one, r.batched].map((p) => [
        r.label,
        String(p.streams),
        String(p.tokens),
        s(p.seconds),
        rate(p.tokens / p.seconds),
        ratio((p.tokens / p.seconds) / (r.one.tokens / r.one.seconds)),
        `${s(p.ttft.p50)} / ${s(p.ttft.p95)}`,
        `${s(p.gap.p50)} / ${s(p.gap.p95)}`,
      ])
    ),
  );
}
