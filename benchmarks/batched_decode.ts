/**
 * Decode throughput of continuous batching in the library (`_batched_decode.ts`): one greedy
 * stream, then N at once on a {@linkcode BatchedModel}, on a random fixture built in memory
 * (default `llama-8x1024`: 8 layers, hidden 1024, Llama 3's 128k vocabulary, bf16). `--profile`
 * adds one decode step at one row and at N, by kernel (`_decode_step_profile.ts`). `--write`
 * puts the tables into BENCHMARKS.md's `batched_decode` block. The GPU kit runs the same
 * measurement (`benchmarks/device/gpu_bench.ts`).
 *
 * ```sh
 * deno run -A benchmarks/batched_decode.ts [--preset llama-8x1024] [--streams 16] [--tokens 32]
 *   [--profile] [--write]
 * ```
 *
 * @module
 */
import { fail, numberFlag, runCommand } from "../examples/_cli.ts";
import { parseCommand } from "../examples/_flags.ts";
import { createFixtureModel, type FixturePreset } from "../lib/fixtures/fixture_model.ts";
import { memoryModelSource } from "../lib/format/model_source.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { batchedDecodeTable, measureBatchedDecode } from "./_batched_decode.ts";
import { type DecodeStepProfile, decodeStepTable } from "./_decode_step_profile.ts";
import { cpuModel, loadavg } from "./_machine.ts";
import { writeReportBlock } from "./_report_blocks.ts";

const flags = parseCommand(Deno.args, {
  name: "batched_decode",
  path: "benchmarks/batched_decode.ts",
  summary: "Measure one decode stream against N batched streams in the library.",
  usage: "[--preset NAME] [--streams N] [--tokens D] [--profile] [--write]",
  flags: {
    preset: { value: "NAME", help: "The fixture's shape (default llama-8x1024)" },
    streams: { value: "N", help: "Concurrent streams (default 16)" },
    tokens: { value: "D", help: "Greedy tokens per stream (default 32)" },
    profile: { type: "boolean", help: "Also profile one decode step at one row and at N" },
    write: { type: "boolean", help: "Also write the tables into BENCHMARKS.md (batched_decode)" },
  },
});

/** The block's lines on one decode step by kernel, with what its figures bound. */
function stepsSection(profiles: DecodeStepProfile[], table: string): string[] {
  const [one, many] = [profiles[0], profiles[profiles.length - 1]];
  const gflops = (p: DecodeStepProfile) => p.productGflops.toPrecision(3);
  const speedup = (many.rows / many.seconds) / (one.rows / one.seconds);
  const bound = many.productGflops / one.productGflops;
  return [
    "One decode step, by kernel (`--profile`: timestamp queries on every dispatch; each size " +
    "runs 2-token and 10-token phases and takes the difference, so the prompts' prefill " +
    "cancels out):",
    "",
    table,
    "",
    `The base products take most of a step. At one row they run at ${gflops(one)} GFLOP/s, ` +
    `at ${many.rows} rows at ${gflops(many)} GFLOP/s (each class of M runs the variant chosen ` +
    "at load). A step costs its products' arithmetic over their rate, so on this adapter " +
    `${many.rows} rows decode at most about ${bound.toFixed(2)}× as fast as one, whatever the ` +
    `scheduler does; the step measured here gives ${speedup.toFixed(2)}×.`,
  ];
}

await runCommand(async () => {
  const preset = (flags.preset ?? "llama-8x1024") as FixturePreset;
  const streams = numberFlag(flags.streams, "streams", 16);
  const tokens = numberFlag(flags.tokens, "tokens", 32);
  for (const [name, n] of [["streams", streams], ["tokens", tokens]] as const) {
    if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer, got ${n}`);
  }
  const loadAtStart = loadavg();
  const source = memoryModelSource(preset, createFixtureModel({ preset }));
  const model = await loadModel(source, { backend: "webgpu", maxContext: 256 });
  try {
    const profile = flags.profile === true;
    const result = await measureBatchedDecode(model, preset, { streams, tokens, profile });
    const table = batchedDecodeTable([result]);
    const steps = result.steps ? decodeStepTable(preset, result.steps) : undefined;
    console.log([table, steps].filter(Boolean).join("\n\n"));
    if (!flags.write) return;
    const command = `deno run -A benchmarks/batched_decode.ts --preset ${preset} ` +
      `--streams ${streams} --tokens ${tokens}${profile ? " --profile" : ""} --write`;
    await writeReportBlock(
      "BENCHMARKS.md",
      "batched_decode",
      [
        "## Continuous batching in the library: decode throughput",
        "",
        `\`${command}\`, on ${await cpuModel()} (nproc ${navigator.hardwareConcurrency}), ` +
        `adapter ${model.gpu!.adapterName}; load average ${loadAtStart} at the start, ` +
        `${loadavg()} at the end. Greedy streams on a \`BatchedModel\` (no server), a third on ` +
        "the base model and the rest on two rank-16 adapters; one stream first, then all at once.",
        "",
        table,
        "",
        "Issue 15 asks for 16 streams at 5× one stream or more. That is a bandwidth-bound " +
        "GPU's arithmetic: decoding one row reads every weight for two FLOPs each, so 16 rows " +
        "cost little more than one. A CPU adapter is compute-bound already at one row, so a " +
        "step of N rows costs N rows' arithmetic, and the batch gains only what its products' " +
        "kernel gains in GFLOP/s over the one-row kernel. The GPU kit (`benchmarks/device/`) " +
        "measures the same table on a lent GPU.",
        ...(result.steps ? ["", ...stepsSection(result.steps, steps!)] : []),
      ].join("\n"),
    );
  } finally {
    model.dispose();
  }
});
