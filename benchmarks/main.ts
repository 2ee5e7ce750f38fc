/**
 * Runs every benchmark once and (re)writes BENCHMARKS.md: the machine, the adapter, the matmul
 * tuning, each kernel next to tfjs-backend-webgpu, every matmul variant (the tiled kernel is
 * the one from before the variants), end-to-end tokens/s on the tiny fixture and on the
 * Llama-3.2-1B-shaped fixture, and the efficiency counters. Every figure in the file comes
 * from this run; each row names the command that measures it again.
 *
 * ```sh
 * deno run -A benchmarks/main.ts [--out BENCHMARKS.md] [--no-1b] [--no-variants]
 *   [--min-seconds 0.25] [--peak-gb-s N --peak-gflop-s N]
 * ```
 *
 * With the machine's published peaks (memory bandwidth in GB/s, f32 GFLOP/s), the file also
 * compares each model's tokens/s with the bounds they set.
 *
 * The 1B fixture (2.5 GB) is created in ./model_cache/fixture-llama-3.2-1b when absent. On a
 * CPU adapter (lavapipe) the whole run takes tens of minutes.
 *
 * @module
 */
import { dirModelSource, writeFileAtomic } from "../lib/format/fs_model_source.ts";
import { acquireGpu, type Gpu } from "../lib/gpu/device.ts";
import { tuneMatmul } from "../lib/ops/matmul_tuning.ts";
import { setMatmulChoice } from "../lib/ops/matmul_variants.ts";
import { type EndToEndResult, LLAMA_1B, measureModel, TINY } from "./_end_to_end.ts";
import { counterTable, limitsTable, throughputTable } from "./_end_to_end_tables.ts";
import {
  belowGoal,
  type KernelMeasurement,
  kernelTable,
  measureKernels,
  variantTable,
} from "./_kernel_suite.ts";
import { ensureFixture } from "./_fixtures.ts";
import { cpuModel, loadavg } from "./_machine.ts";
import { peaksFromFlags } from "./_peaks.ts";
import { keptReportBlocks } from "./_report_blocks.ts";
import { tuningTable } from "./_tuning_table.ts";
import { markdownTable } from "./_table.ts";
import type { TfjsPeer } from "./_tfjs_peer.ts";
import { fail, numberFlag, runCommand } from "../examples/_cli.ts";
import { parseCommand } from "../examples/_flags.ts";

const GOAL = 1.5; // ours ÷ tfjs on every matmul shape

const flags = parseCommand(Deno.args, {
  name: "benchmarks",
  path: "benchmarks/main.ts",
  summary: "Run the benchmarks and write BENCHMARKS.md.",
  usage: "[--out BENCHMARKS.md] [options]",
  flags: {
    out: { value: "FILE", help: "Where the report goes (default BENCHMARKS.md)" },
    "no-1b": { type: "boolean", help: "Skip the Llama-3.2-1B-shaped runs" },
    "no-variants": { type: "boolean", help: "Skip the kernel variant comparisons" },
    "min-seconds": { value: "S", help: "Least time per measurement (default 0.25)" },
    "peak-gb-s": { value: "N", help: "The device's peak bandwidth, for roofline fractions" },
    "peak-gflop-s": { value: "N", help: "The device's peak compute, with --peak-gb-s" },
  },
});
const minSeconds = numberFlag(flags["min-seconds"], "min-seconds", 0.25);
if (!(minSeconds > 0)) fail(`--min-seconds must be positive, got ${minSeconds}`);
const peaks = peaksFromFlags(flags["peak-gb-s"], flags["peak-gflop-s"]);

/** Prints progress to stderr, with the seconds since the start. */
const started = performance.now();
const log = (message: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${message}`);

/** The machine table. */
async function machineTable(gpu: Gpu, peer: TfjsPeer | { error: string }, load: string) {
  const memInfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(memInfo.match(/^MemTotal:\s*(\d+)/m)?.[1] ?? NaN);
  const rows = [
    ["CPU", `${await cpuModel()}, nproc ${navigator.hardwareConcurrency}`],
    ["memory", Number.isFinite(memKiB) ? `${(memKiB / 2 ** 20).toFixed(1)} GiB` : "unknown"],
    ["OS", `${Deno.build.os} ${Deno.build.arch}`],
    ["Deno", `${Deno.version.deno} (V8 ${Deno.version.v8})`],
    [
      "adapter",
      `${gpu.adapterName}${gpu.isFallback ? " (software fallback)" : ""}; shader-f16 ` +
      `${gpu.hasF16 ? "yes" : "no"}, timestamp-query ${gpu.hasTimestamps ? "yes" : "no"}, ` +
      `largest binding ${(gpu.maxBindingBytes / 2 ** 20).toFixed(0)} MiB`,
    ],
    [
      "peer",
      "error" in peer
        ? `tfjs-backend-webgpu not run: ${peer.error}`
        : `@tensorflow/tfjs-backend-webgpu ${peer.version} on ${peer.adapterName}, same process`,
    ],
    ["load average (1, 5, 15 min) at start and end", load],
  ];
  return markdownTable(["", ""], rows);
}

/** Lists the matmul shapes below the goal, or says there are none. */
function goalNote(results: KernelMeasurement[], peer: TfjsPeer | { error: string }): string {
  if ("error" in peer) return `tfjs did not run, so no ratio was measured: ${peer.error}.`;
  const below = belowGoal(results, GOAL);
  if (below.length === 0) return `Every matmul shape is at least ${GOAL}× tfjs on this adapter.`;
  return `Below ${GOAL}× tfjs on this adapter: ${below.map((r) => r.kase.name).join(", ")}. ` +
    "See the notes on small dimensions below.";
}

await runCommand(async () => {
  const out = flags.out ?? "BENCHMARKS.md";
  const loadAtStart = loadavg();
  const gpu = await acquireGpu();
  log(`Adapter ${gpu.adapterName}; tuning the matmul variants`);
  const tuning = await tuneMatmul(gpu, { force: true }); // measured, not read from the cache
  const { peer, results: kernels } = await measureKernels(gpu, {
    variants: !flags["no-variants"],
    minSeconds,
    log,
  });

  // Each model on a device of its own, so that its pipeline counts are its own; every device
  // uses the choice measured above, the one this file reports, and is not measured again.
  const modelGpu = async () => {
    const each = await acquireGpu();
    setMatmulChoice(each, tuning.choice);
    return each;
  };
  const models: EndToEndResult[] = [];
  log(`End to end: ${TINY.label}`);
  const tinyGpu = await modelGpu();
  models.push(
    await measureModel(tinyGpu, TINY.label, TINY.source(), TINY.plan, { repeat: 3, warmup: true }),
  );
  if (!flags["no-1b"]) {
    await ensureFixture(LLAMA_1B.dir, "llama-3.2-1b", log);
    log(`End to end: ${LLAMA_1B.label} (minutes on a CPU adapter)`);
    const source = dirModelSource(LLAMA_1B.dir);
    models.push(
      await measureModel(await modelGpu(), LLAMA_1B.label, source, LLAMA_1B.plan, {
        repeat: 1,
        warmup: false,
      }),
    );
  }

  const markdown = [
    "# Benchmarks",
    "",
    "Generated by `deno run -A benchmarks/main.ts`: every figure below comes from one run " +
    "of it on the machine described here; nothing is edited by hand. Each row names the " +
    "`deno bench` command that measures it again (`deno task bench` runs them all, without the " +
    "1B model and the variants).",
    "",
    "## Machine",
    "",
    await machineTable(gpu, peer, `${loadAtStart}; ${loadavg()}`),
    "",
    "A load average above the core count means other work shared the CPU during the run; on a " +
    "CPU adapter every figure is then lower than the machine can do, ours and tfjs's alike.",
    "",
    "## Method",
    "",
    "- Kernels: one submit of `reps` runs and one wait for the queue (`onSubmittedWorkDone`), " +
    `\`reps\` raised until the submit lasts at least ${minSeconds} s; the completion floor ` +
    "(Deno polls, then sleeps 10 ms), measured with empty submits, is subtracted. GFLOP/s " +
    "count 2·M·N·K for a product; GB/s count each input read once and each output written once.",
    "- tfjs computes in f32, so it gets f32 weights; ours read the weights as stored (bf16 for " +
    "the model's projections, f32 for LoRA). tfjs gets W in the layout it runs faster at each " +
    "shape, (N, K) with `transposeB` or (K, N), compared on at most 64 rows first.",
    "- End to end: greedy generation through `generateText` (GPU sampling, decode steps chained " +
    "per readback); decode tokens/s is (generation − prefill) time over the decoded tokens. " +
    "Training: one optimizer step on one micro-batch as `trainLora` makes it (forward, loss, " +
    "backward and AdamW in one submit; the loss and the gradient norm read back), LoRA on " +
    "every linear projection. Peak memory counts every buffer the engine allocated while " +
    "training, weights included.",
    "",
    "## Kernel choices made at load",
    "",
    "`tuneMatmul` times each candidate on a small shape when a model is first loaded on an " +
    "adapter (then caches the choice on disk): the matmul variant of each class of M, and " +
    "whether a decode step fuses its RMSNorms and SwiGLU into the products' loads. It starts " +
    "from the prior of the adapter's class and switches only when a challenger wins by 1.25× " +
    "in its best of 5 paired trials of at least 0.2 s and in 2 of the pairs. Below: each " +
    "candidate's best trial. This run measured once, and every model below uses its choice:",
    "",
    tuningTable(tuning),
    "",
    "## Kernels, ours and tfjs-backend-webgpu",
    "",
    kernelTable(kernels),
    "",
    goalNote(kernels, peer),
    "",
    ...(flags["no-variants"] ? [] : [
      "## Every matmul variant (GFLOP/s)",
      "",
      "`tiled` is the kernel from before the variants (64×64 tiles in workgroup memory).",
      "",
      variantTable(kernels),
      "",
    ]),
    "## End to end",
    "",
    throughputTable(models),
    "",
    "## Efficiency counters",
    "",
    counterTable(models),
    "",
    "Per decoded token: the generation's counters minus its prefill's, over the decoded tokens. " +
    "Pipelines (each model on a fresh device): the model's and the trainer's, built when they " +
    "are constructed, and those compiled later while generating and training (0 means every " +
    "pipeline was built at load). Bind groups are created the first time a dispatch is " +
    "recorded and reused after: the tiny fixture is measured after a warm-up and creates none; " +
    "the 1B model runs each phase once, cold, so all of its are new.",
    "",
    ...(peaks
      ? [
        "## Against the machine's limits",
        "",
        `Peaks given on the command line (\`--peak-gb-s ${peaks.gbPerSecond} --peak-gflop-s ` +
        `${peaks.gflopPerSecond}\`). Decode reads every weight once a token; prefill does ` +
        "2·params FLOPs a token and LoRA training 4·params (forward and input gradients). The " +
        "KV cache, attention, the LoRA products and the LM head's recompute are left out, so " +
        "every bound is generous.",
        "",
        limitsTable(models, peaks),
        "",
      ]
      : []),
    "## Notes",
    "",
    "- Small dimensions. The LoRA products have one dimension of 16: `lora up` reduces over " +
    "only K = 16 values per output, so writing the (512, 2048) output and each invocation's " +
    "fixed work dominate; `lora down` has only 16 output columns, 4 invocations' worth. Tried " +
    "on lavapipe: 8 rows per invocation instead of 4 (spills registers, several times " +
    "slower); splitting K across invocations (slower without subgroups, which lavapipe lacks); " +
    "workgroups of 8 to " +
    "64 invocations (kept: 32, and never more than a narrow C has columns for, which keeps " +
    "`lora down` at 8); epilogue loops with constant trip counts (kept: the accumulators stay " +
    "in registers). tfjs's own time on these two shapes varies most from run to run.",
    "- Fusions. No forward runs a LoRA-up product: the matmul kernels add s·u·Bᵀ as they " +
    "store y (the `+ LoRA` rows; u = n·Aᵀ is the `lora down` product). A decode step can " +
    "also normalise x, or compute silu(gate)·up, as the products load it (the `+ norm` row); " +
    "whether it does is measured at load (the table above), since every block of columns " +
    "redoes that arithmetic: it saves dispatches and barriers on a GPU and costs a CPU " +
    "adapter. Prefill chunks longer than 4 tokens, whose products are compute-bound, run " +
    "RMSNorm and SwiGLU as kernels. RoPE and the KV-cache " +
    "append are one dispatch, and the training backward's LM-head product stores the " +
    "cross-entropy gradient instead of the logits. The training forward still stores each " +
    "vocabulary chunk's logits once for the cross-entropy statistics (a fused max/Σexp " +
    "would need a cross-workgroup reduction in the epilogue), and training still runs " +
    "RMSNorm and SwiGLU as kernels, because its backward needs their outputs anyway.",
    "- Attention: one workgroup serves 8 query rows of a kv head's group with key/value tiles " +
    "in workgroup memory; decode past 64 keys splits the context across workgroups and " +
    "combines the partial softmaxes (one more dispatch per layer, many more workgroups on a " +
    "GPU). The RMSNorm row is what training runs.",
    ...(peaks ? [] : [
      "- Physical limits (decode against memory bandwidth, training against FLOP/s × " +
      "4·parameters·tokens) are compared when the run is given the machine's peaks " +
      "(`--peak-gb-s`, `--peak-gflop-s`); this run was not.",
    ]),
    "- CPU adapters rank kernels in the reverse order of real GPUs (lavapipe runs workgroup " +
    "memory and barriers slowly), so the variant is measured on each device, never fixed.",
    "",
  ].join("\n");
  // Blocks other benchmarks write (load tests, profiles, GPU runs) stay as they were.
  const kept = await keptReportBlocks(out);
  await writeFileAtomic(out, kept ? `${markdown}\n${kept}` : markdown);
  log(`Wrote ${out}`);
});
