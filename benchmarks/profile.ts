/**
 * Where the time of a training step goes, next to a prefill of the same tokens (the last
 * position's logits) and the training's forward alone (every position's logits and the loss):
 * GPU time per kernel class (`_kernel_classes.ts`) from timestamp queries (`DispatchProfiler`),
 * as shares of each, and the unprofiled wall-clock throughputs with training ÷ prefill and
 * training ÷ forward, training measured
 * both with the backward reading the weights as (K, N) (before) and reading their transposed
 * copies as (N, K) (`TransposedWeights`, now). `--write` also writes the tables into
 * BENCHMARKS.md's `training_profile` block. The model is a
 * random fixture built in memory (default `llama-8x1024`: 8 layers, hidden 1024, vocabulary
 * 128,256); training is one AdamW step on one micro-batch of 1 × T tokens, LoRA r 16 on all
 * seven projections. Minutes on a CPU adapter.
 *
 * ```sh
 * deno run -A benchmarks/profile.ts [--preset llama-8x1024|tiny|…] [--tokens 64] [--json] [--write]
 * ```
 *
 * @module
 */
import { fail, numberFlag, runCommand } from "../examples/_cli.ts";
import { parseCommand } from "../examples/_flags.ts";
import { createFixtureModel, type FixturePreset } from "../lib/fixtures/fixture_model.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { acquireGpu } from "../lib/gpu/device.ts";
import { DispatchProfiler } from "../lib/gpu/dispatch_profiler.ts";
import { EndToEnd } from "./_end_to_end.ts";
import { KERNEL_CLASSES, secondsByClass } from "./_kernel_classes.ts";
import { forwardMflop } from "./_model_flops.ts";
import { cpuModel, loadavg } from "./_machine.ts";
import { writeReportBlock } from "./_report_blocks.ts";
import { markdownTable, rate } from "./_table.ts";

const flags = parseCommand(Deno.args, {
  name: "profile",
  path: "benchmarks/profile.ts",
  summary: "Profile a training step and a prefill by kernel class, each dispatch timed.",
  usage: "[--preset NAME] [--tokens T] [--json] [--write]",
  flags: {
    preset: { value: "NAME", help: "The fixture's shape (default llama-8x1024)" },
    tokens: { value: "T", help: "Tokens per sequence" },
    json: { type: "boolean", help: "Print the profile as JSON" },
    write: { type: "boolean", help: "Also write the tables into BENCHMARKS.md (training_profile)" },
  },
});

await runCommand(async () => {
  const preset = (flags.preset ?? "llama-8x1024") as FixturePreset;
  const T = numberFlag(flags.tokens, "tokens", 64);
  if (!Number.isInteger(T) || T < 2) fail(`--tokens must be an integer ≥ 2, got ${T}`);
  const log = (line: string) =>
    console.error(`[${(performance.now() / 1000).toFixed(1)} s] ${line}`);
  const loadAtStart = loadavg();
  log(`Building the ${preset} fixture`);
  const source = memoryModelSource(preset, createFixtureModel({ preset }));
  const gpu = await acquireGpu();
  const plan = { promptTokens: T, decodeTokens: 1, batchSize: 1, seqLen: T, rank: 16 };
  const e2e = await EndToEnd.open(gpu, source, plan);
  const lmHead = new Set(e2e.weights.lmHead.chunks.map((c) => c.buffer));
  log(`Prefill of ${T} tokens`);
  await e2e.prefill(); // warm-up: bind groups and first-use costs
  const prefill = await e2e.prefill();
  const noCopies = { lmHead, transposed: new Set<GPUBuffer>() };
  const prefillProfile = secondsByClass(
    await DispatchProfiler.during(gpu, () => e2e.prefill()),
    noCopies,
  );
  const training = async (transposedWeightsBytes?: number) => {
    e2e.startTraining({ transposedWeightsBytes });
    await e2e.trainStep(1); // warm-up
    return await e2e.trainStep(2);
  };
  log(`Training step of 1 × ${T} tokens, the backward reading the weights as (K, N) (before)`);
  const before = await training(0);
  log(`Training step of 1 × ${T} tokens, the backward reading transposed copies (now)`);
  const train = await training();
  log(`The training's forward alone on 1 × ${T} tokens`);
  await e2e.forwardStep(); // warm-up
  const forward = await e2e.forwardStep();
  const buffers = {
    lmHead: new Set([...lmHead, ...e2e.transposedBuffers(e2e.weights.lmHead)]),
    transposed: new Set(e2e.transposedBuffers()),
  };
  const trainProfile = secondsByClass(
    await DispatchProfiler.during(gpu, () => e2e.trainStep(3)),
    buffers,
  );
  const forwardProfile = secondsByClass(
    await DispatchProfiler.during(gpu, () => e2e.forwardStep()),
    buffers,
  );
  e2e.dispose();

  const prefillRate = T / prefill.seconds, trainRate = T / train.seconds;
  const forwardRate = T / forward.seconds;
  const result = {
    preset,
    adapter: gpu.adapterName,
    tokens: T,
    kernels: gpu.kernels.matmul,
    prefill: { tokensPerSecond: prefillRate, dispatches: prefill.traffic.dispatches },
    forward: { tokensPerSecond: forwardRate, dispatches: forward.traffic.dispatches },
    train: { tokensPerSecond: trainRate, dispatches: train.traffic.dispatches },
    trainBefore: { tokensPerSecond: T / before.seconds, dispatches: before.traffic.dispatches },
    trainOverPrefill: trainRate / prefillRate,
    trainOverForward: trainRate / forwardRate,
    profile: { prefill: prefillProfile, forward: forwardProfile, train: trainProfile },
  };
  if (flags.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const share = (p: typeof trainProfile, c: typeof KERNEL_CLASSES[number]) =>
    p.count[c] ? `${(100 * p.byClass[c] / p.total).toFixed(1)}% (${p.count[c]})` : "–";
  const mflop = forwardMflop(e2e.config);
  const table = markdownTable(
    [
      "kernel class",
      "prefill: share of GPU time (dispatches)",
      "training's forward alone: share (dispatches)",
      "training step: share (dispatches)",
    ],
    KERNEL_CLASSES.map((
      c,
    ) => [c, share(prefillProfile, c), share(forwardProfile, c), share(trainProfile, c)]),
  );
  const summary = `${preset} on ${gpu.adapterName}, T = ${T}: prefill ${rate(prefillRate)} ` +
    `tok/s, forward ${rate(forwardRate)} tok/s, training ${rate(trainRate)} tok/s; ` +
    `training ÷ prefill ${(trainRate / prefillRate).toFixed(3)}, training ÷ forward ` +
    `${(trainRate / forwardRate).toFixed(3)}; profiled GPU time: prefill ` +
    `${prefillProfile.total.toFixed(3)} s, forward ${forwardProfile.total.toFixed(3)} s, ` +
    `training step ${trainProfile.total.toFixed(3)} s (by GPU time, training ÷ prefill ` +
    `${(prefillProfile.total / trainProfile.total).toFixed(3)} and training ÷ forward ` +
    `${(forwardProfile.total / trainProfile.total).toFixed(3)}). ` +
    `Before (the backward reading the weights as (K, N), no transposed copies): training ` +
    `${rate(T / before.seconds)} tok/s, training ÷ prefill ` +
    `${(T / before.seconds / prefillRate).toFixed(3)}.`;
  console.log(`${table}\n\n${summary}`);
  if (!flags.write) return;
  const command = `deno run -A benchmarks/profile.ts --preset ${preset} --tokens ${T} --write`;
  await writeReportBlock(
    "BENCHMARKS.md",
    "training_profile",
    [
      "## Where a training step's time goes",
      "",
      `\`${command}\`, on ${await cpuModel()} (nproc ${navigator.hardwareConcurrency}), ` +
      `adapter ${gpu.adapterName}; load average ${loadAtStart} at the start, ${loadavg()} at ` +
      "the end. GPU time per kernel class from timestamp queries: one prefill (the last " +
      "position's logits), the training's forward alone (every position's logits and the " +
      `loss) and one training step (one AdamW step, batch 1 × ${T}, LoRA r 16 on all seven ` +
      "projections). A step is that forward, a backward of about the same FLOPs for the " +
      "inputs' gradients, and the small LoRA products: training ÷ forward is at most about " +
      "0.5 when the backward runs as efficiently as the forward. Prefill skips the LM head at " +
      `all but the last position: ${mflop.head.toFixed(0)} of the forward's ` +
      `${(mflop.head + mflop.layers).toFixed(0)} MFLOP a token here, so training ÷ prefill ` +
      `is at most about ${
        (mflop.layers / (2 * (mflop.layers + mflop.head))).toFixed(2)
      } even then.`,
      "",
      table,
      "",
      summary,
    ].join("\n"),
  );
});
