/**
 * Decode throughput of continuous batching in the library (`_batched_decode.ts`): one greedy
 * stream, then N at once on a {@linkcode BatchedModel}, on a random fixture built in memory
 * (default `llama-8x1024`: 8 layers, hidden 1024, Llama 3's 128k vocabulary, bf16). `--write`
 * puts the table into BENCHMARKS.md's `batched_decode` block. The GPU kit runs the same
 * measurement (`benchmarks/device/gpu_bench.ts`).
 *
 * ```sh
 * deno run -A benchmarks/batched_decode.ts [--preset llama-8x1024] [--streams 16] [--tokens 32]
 *   [--write]
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
import { cpuModel, loadavg } from "./_machine.ts";
import { writeReportBlock } from "./_report_blocks.ts";

const flags = parseCommand(Deno.args, {
  name: "batched_decode",
  path: "benchmarks/batched_decode.ts",
  summary: "Measure one decode stream against N batched streams in the library.",
  usage: "[--preset NAME] [--streams N] [--tokens D] [--write]",
  flags: {
    preset: { value: "NAME", help: "The fixture's shape (default llama-8x1024)" },
    streams: { value: "N", help: "Concurrent streams (default 16)" },
    tokens: { value: "D", help: "Greedy tokens per stream (default 32)" },
    write: { type: "boolean", help: "Also write the table into BENCHMARKS.md (batched_decode)" },
  },
});

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
    const result = await measureBatchedDecode(model, preset, { streams, tokens });
    const table = batchedDecodeTable([result]);
    console.log(table);
    if (!flags.write) return;
    const command = `deno run -A benchmarks/batched_decode.ts --preset ${preset} ` +
      `--streams ${streams} --tokens ${tokens} --write`;
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
        "cost little more than one. A CPU adapter is compute-bound already at one row (lavapipe " +
        "reaches a few GFLOP/s either way), so 16 rows cost about 16 times one, and the batch " +
        "can only save the per-step overheads. The GPU kit (`benchmarks/device/`) measures the " +
        "same table on a lent GPU.",
      ].join("\n"),
    );
  } finally {
    model.dispose();
  }
});
