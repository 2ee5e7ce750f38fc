/**
 * The GPU kit's benchmark, bundled by `pack.ts` and run by `run.sh` on a lent machine: the
 * kernel choices measured at load, the kernel suite (ours, tfjs-backend-webgpu and every matmul
 * variant), then prefill, greedy decode and one LoRA training step on a fixture generated in
 * memory (default the Llama-3.2-1B-shaped one), with their dispatch counts, and continuous
 * batching's decode throughput (one stream, then `--streams` at once, and one decode step at 1
 * and `--streams` rows by kernel where the adapter has timestamps) on the same model. Writes
 * `results.json` (rewritten after each part, so a run cut short keeps what it measured) and
 * `results.md` into `--out`. Parts that would start after `--budget-s` are left out and listed.
 *
 * ```sh
 * deno run -A benchmarks/device/gpu_bench.ts --out DIR [--preset llama-3.2-1b] [--tokens 128]
 *   [--decode-tokens 64] [--repeat 3] [--min-seconds 0.25] [--kernels REGEX] [--no-variants]
 *   [--streams 16] [--budget-s 420] [--driver TEXT] [--peak-gb-s N --peak-gflop-s N]
 * ```
 *
 * @module
 */
import { fail, numberFlag, runCommand } from "../../examples/_cli.ts";
import { parseCommand } from "../../examples/_flags.ts";
import { createFixtureModel, type FixturePreset } from "../../lib/fixtures/fixture_model.ts";
import { writeFileAtomic } from "../../lib/format/fs_model_source.ts";
import { memoryModelSource } from "../../lib/format/model_source.ts";
import { acquireGpu } from "../../lib/gpu/device.ts";
import { tuneMatmul } from "../../lib/ops/matmul_tuning.ts";
import { setMatmulChoice } from "../../lib/ops/matmul_variants.ts";
import { loadModel } from "../../lib/model/load_model.ts";
import { measureBatchedDecode } from "../_batched_decode.ts";
import { measureModel } from "../_end_to_end.ts";
import { measureKernels } from "../_kernel_suite.ts";
import { cpuModel } from "../_machine.ts";
import { peaksFromFlags } from "../_peaks.ts";
import { gpuReport, type GpuResults, saveKernels } from "./_gpu_results.ts";

const flags = parseCommand(Deno.args, {
  name: "gpu_bench",
  path: "benchmarks/device/gpu_bench.ts",
  summary: "The GPU kit's benchmark: tuning, kernels and end to end, into results.json/.md.",
  usage: "--out DIR [options]",
  flags: {
    out: { value: "DIR", help: "Where results.json and results.md go" },
    preset: { value: "NAME", help: "The fixture (default llama-3.2-1b)" },
    tokens: { value: "T", help: "Prompt and training tokens (default 128)" },
    "decode-tokens": { value: "D", help: "Greedily decoded tokens (default 64)" },
    repeat: { value: "N", help: "Timed runs of each end-to-end phase after a warm-up (default 3)" },
    "min-seconds": { value: "S", help: "Least time per kernel measurement (default 0.25)" },
    kernels: { value: "REGEX", help: "Only the kernel cases whose name matches" },
    "no-variants": { type: "boolean", help: "Skip timing every matmul variant" },
    streams: { value: "N", help: "Concurrent streams of the batched decode (default 16)" },
    "budget-s": { value: "S", help: "Start no part after this many seconds (default 420)" },
    driver: { value: "TEXT", help: "The Vulkan driver run.sh found, for the machine table" },
    "peak-gb-s": { value: "N", help: "Peak bandwidth, for results.md's limits table" },
    "peak-gflop-s": { value: "N", help: "Peak f32 compute, with --peak-gb-s" },
  },
});

/** A positive integer flag, or `fallback`. */
function countFlag(value: string | undefined, name: string, fallback: number): number {
  const n = numberFlag(value, name, fallback);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${n}`);
  return n;
}

/** The arguments less `--out DIR` (or `--out=DIR`), which is the run's own business. */
function withoutOut(args: string[]): string[] {
  return args.filter((a, i) => !a.startsWith("--out") && args[i - 1] !== "--out");
}

await runCommand(async () => {
  if (!flags.out) fail("Missing --out DIR");
  const out = flags.out!;
  const preset = (flags.preset ?? "llama-3.2-1b") as FixturePreset;
  const T = countFlag(flags.tokens, "tokens", 128);
  const D = countFlag(flags["decode-tokens"], "decode-tokens", 64);
  const repeat = countFlag(flags.repeat, "repeat", 3);
  const streams = countFlag(flags.streams, "streams", 16);
  const minSeconds = numberFlag(flags["min-seconds"], "min-seconds", 0.25);
  const budget = numberFlag(flags["budget-s"], "budget-s", 420);
  if (!(minSeconds > 0)) fail(`--min-seconds must be positive, got ${minSeconds}`);
  const peaks = peaksFromFlags(flags["peak-gb-s"], flags["peak-gflop-s"]);
  const filter = flags.kernels === undefined ? undefined : new RegExp(flags.kernels);
  await Deno.mkdir(out, { recursive: true });

  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const log = (message: string) => console.error(`[${elapsed().toFixed(0)} s] ${message}`);
  const gpu = await acquireGpu();
  log(`Adapter ${gpu.adapterName}; tuning the kernels`);
  const results: GpuResults = {
    command: `gpu_bench.ts ${withoutOut(Deno.args).join(" ")}`.trim(),
    machine: {
      adapter: `${gpu.adapterName}${gpu.isFallback ? " (software fallback)" : ""}`,
      features: `shader-f16 ${gpu.hasF16 ? "yes" : "no"}, timestamp-query ${
        gpu.hasTimestamps ? "yes" : "no"
      }, largest binding ${(gpu.maxBindingBytes / 2 ** 20).toFixed(0)} MiB`,
      "Vulkan driver": flags.driver ?? "as the loader found it",
      CPU: `${await cpuModel()}, nproc ${navigator.hardwareConcurrency}`,
      Deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
    },
    tuning: await tuneMatmul(gpu, { force: true }),
    kernels: [],
    skipped: [],
    seconds: 0,
  };
  const save = async () => {
    results.seconds = elapsed();
    await writeFileAtomic(`${out}/results.json`, JSON.stringify(results, null, 1));
    await writeFileAtomic(`${out}/results.md`, gpuReport(results, peaks));
  };
  await save();
  log(`Chosen: ${JSON.stringify(results.tuning.choice)}`);

  const kernels = await measureKernels(gpu, {
    variants: !flags["no-variants"],
    minSeconds,
    log,
    filter,
  });
  results.kernels = saveKernels(kernels.results);
  if (flags["no-variants"]) results.skipped.push("the matmul variants (--no-variants)");
  await save();

  log(`Generating the ${preset} fixture in memory`);
  const source = memoryModelSource(preset, createFixtureModel({ preset }));
  if (elapsed() > budget) {
    results.skipped.push(`end to end on ${preset}: the ${budget} s budget was spent`);
  } else {
    const modelGpu = await acquireGpu(); // its own device: its pipeline counts are its own
    setMatmulChoice(modelGpu, results.tuning.choice);
    log(`End to end on ${preset}`);
    const plan = { promptTokens: T, decodeTokens: D, batchSize: 1, seqLen: T, rank: 16 };
    results.endToEnd = await measureModel(modelGpu, preset, source, plan, {
      repeat,
      warmup: true,
      forward: true,
    });
  }
  await save();

  if (elapsed() > budget) {
    results.skipped.push(`batched decode on ${preset}: the ${budget} s budget was spent`);
  } else {
    log(`Batched decode on ${preset}: one stream, then ${streams}`);
    const model = await loadModel(source, { backend: "webgpu", maxContext: 256 });
    setMatmulChoice(model.gpu!, results.tuning.choice);
    try {
      results.batchedDecode = await measureBatchedDecode(model, preset, {
        streams,
        tokens: D,
        profile: model.gpu!.hasTimestamps, // one decode step at 1 and N rows, by kernel
      });
    } finally {
      model.dispose();
    }
  }
  await save();
  log(`Wrote ${out}/results.json and results.md`);
});
