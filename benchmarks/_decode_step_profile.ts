/**
 * What one decode step of continuous batching costs, by kernel, at several batch sizes: why
 * batching multiplies throughput on one adapter and not on another. Each size runs two
 * profiled phases (`DispatchProfiler`) of greedy streams, `SHORT_TOKENS` and `LONG_TOKENS`
 * tokens each, and takes their difference, so the prompts' prefill and the first token cancel
 * out and what is left is decode steps alone. The products' GFLOP/s count the base weights'
 * arithmetic (2 FLOPs per weight per row, the LM head included); the LoRA rows (BGMV) are
 * reported as a share of the GPU time only.
 *
 * @module
 */
import type { Gpu } from "../lib/gpu/device.ts";
import { DispatchProfiler, type ProfiledDispatch } from "../lib/gpu/dispatch_profiler.ts";
import type { ModelConfig } from "../lib/model/config.ts";
import { secondsByClass } from "./_kernel_classes.ts";
import { forwardMflop } from "./_model_flops.ts";
import { markdownTable, rate, ratio } from "./_table.ts";

/** Tokens per stream of the shorter phase (its prefill and first token cancel out). */
export const SHORT_TOKENS = 2;
/** Tokens per stream of the longer phase: 8 more decode steps, one chain of them. */
export const LONG_TOKENS = 10;

/** Runs `rows` greedy streams of `tokens` tokens at once; tokens made, wall-clock seconds. */
export type RunPhase = (
  rows: number,
  tokens: number,
) => Promise<{ tokens: number; seconds: number }>;

/** One decode step of `rows` sequences. */
export interface DecodeStepProfile {
  /** Sequences decoded together. */
  rows: number;
  /** Wall-clock seconds of one step (profiled: one compute pass per dispatch). */
  seconds: number;
  /** GPU seconds of one step, every dispatch. */
  gpuSeconds: number;
  /** GPU seconds of one step in the base weights' products (`_kernel_classes.ts`). */
  productSeconds: number;
  /** GPU seconds of one step in the LoRA products (the BGMV kernels, per row). */
  loraSeconds: number;
  /** The base products' GFLOP/s. */
  productGflops: number;
}

/**
 * The classes' buffers for a decode step: it reads no transposed copies, and the LM head counts
 * with the other base products. As in the training profile, a product of f32 weights counts as
 * LoRA, so the model's weights must be bf16 (as every fixture's are).
 */
const NO_COPIES = { lmHead: new Set<GPUBuffer>(), transposed: new Set<GPUBuffer>() };

/** GPU seconds of `dispatches`: in all, in the base weights' products, in the LoRA products. */
function secondsOf(dispatches: ProfiledDispatch[]): { all: number; base: number; lora: number } {
  const { total, byClass } = secondsByClass(dispatches, NO_COPIES);
  const base = byClass["LM head products"] + byClass["forward products"] +
    byClass["backward dx products"];
  return { all: total, base, lora: byClass["LoRA products"] };
}

/**
 * Profiles one decode step at each of `sizes` rows on `gpu` (which must offer
 * `timestamp-query`), the phases run by `run`. A step of `rows` rows makes `rows` tokens; a
 * stream that ends early (a random model's EOS) makes its steps count less, since the figures
 * are taken per token made.
 */
export async function profileDecodeSteps(
  gpu: Gpu,
  config: ModelConfig,
  sizes: readonly number[],
  run: RunPhase,
): Promise<DecodeStepProfile[]> {
  const { layers, head } = forwardMflop(config);
  const profiles: DecodeStepProfile[] = [];
  for (const rows of sizes) {
    const phases: { tokens: number; seconds: number; dispatches: ProfiledDispatch[] }[] = [];
    for (const tokens of [SHORT_TOKENS, LONG_TOKENS]) {
      let made = { tokens: 0, seconds: 0 };
      const dispatches = await DispatchProfiler.during(gpu, async () => {
        made = await run(rows, tokens);
      });
      phases.push({ ...made, dispatches });
    }
    const [short, long] = phases;
    const tokens = long.tokens - short.tokens;
    if (tokens <= 0) throw new Error(`No decode steps to profile at ${rows} rows`);
    const perStep = (value: number) => (value * rows) / tokens;
    const [shortGpu, longGpu] = [secondsOf(short.dispatches), secondsOf(long.dispatches)];
    const delta = (part: "all" | "base" | "lora") => perStep(longGpu[part] - shortGpu[part]);
    const productSeconds = delta("base");
    profiles.push({
      rows,
      seconds: perStep(long.seconds - short.seconds),
      gpuSeconds: delta("all"),
      productSeconds,
      loraSeconds: delta("lora"),
      productGflops: (rows * (layers + head)) / 1e3 / productSeconds,
    });
  }
  return profiles;
}

/** The table of {@linkcode profileDecodeSteps}'s results (the first size is the baseline). */
export function decodeStepTable(label: string, profiles: DecodeStepProfile[]): string {
  const [base] = profiles;
  const share = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;
  return markdownTable(
    [
      "model",
      "rows",
      "decode step s",
      "tok/s",
      "÷ one row",
      "products: share of GPU time",
      "products GFLOP/s",
      "LoRA rows (BGMV): share",
    ],
    profiles.map((p) => [
      label,
      String(p.rows),
      p.seconds.toFixed(3),
      rate(p.rows / p.seconds),
      ratio(p.rows / p.seconds / (base.rows / base.seconds)),
      share(p.productSeconds, p.gpuSeconds),
      rate(p.productGflops),
      share(p.loraSeconds, p.gpuSeconds),
    ]),
  );
}
