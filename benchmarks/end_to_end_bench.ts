/**
 * End-to-end benchmarks: prefill, greedy decode (GPU sampling, chained steps) and LoRA
 * training steps on the tiny fixture, and with `BENCH_1B=1` on the Llama-3.2-1B-shaped fixture
 * in ./model_cache/fixture-llama-3.2-1b (minutes on a CPU adapter; create it with
 * `deno run -A examples/make_fixture.ts --out ./model_cache/fixture-llama-3.2-1b --preset
 * llama-3.2-1b`). Prints tokens/s and the efficiency counters at the end.
 *
 * ```sh
 * deno bench -A benchmarks/end_to_end_bench.ts
 * BENCH_1B=1 deno bench -A benchmarks/end_to_end_bench.ts --filter llama
 * ```
 *
 * @module
 */
import { dirModelSource } from "../lib/format/fs_model_source.ts";
import { acquireGpu, findAdapter } from "../lib/gpu/device.ts";
import type { ModelSource } from "../lib/format/model_source.ts";
import {
  EndToEnd,
  type EndToEndPlan,
  type EndToEndResult,
  LLAMA_1B,
  type Measured,
  TINY,
} from "./_end_to_end.ts";
import { counterTable, throughputTable } from "./_end_to_end_tables.ts";

const gpu = (await findAdapter()) ? await acquireGpu() : null;

/**
 * Registers the prefill, generate and train-step benches of one model; returns what they
 * measured, once they all ran.
 */
function benchModel(
  label: string,
  source: () => ModelSource,
  plan: EndToEndPlan,
  iterations: number,
): () => EndToEndResult | null {
  let e2e: EndToEnd | null = null;
  const got: Partial<Record<"prefill" | "generate" | "train", Measured>> = {};
  const pipelines = { afterGenerate: 0, trainer: 0 };
  let step = 0;
  const bench = (
    name: "prefill" | "generate" | "train",
    title: string,
    prepare: (e: EndToEnd) => void,
    run: (e: EndToEnd) => Promise<Measured>,
  ) =>
    Deno.bench({
      name: `${label}: ${title}`,
      ignore: !gpu,
      n: iterations,
      warmup: 1,
      async fn(b) {
        e2e ??= await EndToEnd.open(gpu!, source(), plan);
        prepare(e2e);
        b.start();
        const m = await run(e2e);
        b.end();
        if (!got[name] || m.seconds < got[name].seconds) got[name] = m;
      },
    });
  const { promptTokens: P, decodeTokens: D, batchSize: B, seqLen: T } = plan;
  bench("prefill", `prefill ${P} tokens`, () => {}, (e) => e.prefill());
  bench("generate", `prefill ${P} + ${1 + D} tokens`, () => {}, (e) => e.decode());
  bench("train", `train step ${B}×${T}`, (e) => {
    if (step > 0) return;
    pipelines.afterGenerate = e.pipelines;
    e.startTraining();
    pipelines.trainer = e.pipelines;
  }, (e) => e.trainStep(++step));
  return () => {
    if (!e2e || !got.prefill || !got.generate || !got.train) return null;
    return {
      label,
      plan,
      load: e2e.load,
      prefill: got.prefill,
      generate: got.generate,
      train: got.train,
      trainPeakBytes: e2e.peakBytes,
      pipelines: {
        tuning: e2e.load.pipelinesBeforeModel,
        model: e2e.load.pipelinesAtLoad,
        ...pipelines,
        afterTrain: e2e.pipelines,
      },
    };
  };
}

const measured = [benchModel(TINY.label, TINY.source, TINY.plan, 5)];
if (Deno.env.get("BENCH_1B") === "1") {
  measured.push(benchModel(LLAMA_1B.label, () => dirModelSource(LLAMA_1B.dir), LLAMA_1B.plan, 1));
}

globalThis.addEventListener("unload", () => {
  const results = measured.map((get) => get()).filter((r) => r !== null);
  if (results.length === 0) return;
  console.log(`\nAdapter: ${gpu!.adapterName}\n`);
  console.log(throughputTable(results));
  console.log(`\n${counterTable(results)}`);
});
