/**
 * Writes the `gpu` block of BENCHMARKS.md from a GPU kit run's results (the `results.json`
 * that `run.sh` left in `$OUT`): the machine, the kernel choices made at load, the kernel
 * suite, end-to-end tokens/s with dispatch counts, and with the GPU's published peaks decode
 * against the bandwidth bound and prefill and training against the FLOP bound.
 *
 * ```sh
 * deno run -A benchmarks/device/report.ts --results DIR [--peak-gb-s N --peak-gflop-s N]
 *   [--out BENCHMARKS.md]
 * ```
 *
 * @module
 */
import { z } from "zod";
import { fail, runCommand } from "../../examples/_cli.ts";
import { parseCommand } from "../../examples/_flags.ts";
import { peaksFromFlags } from "../_peaks.ts";
import { writeReportBlock } from "../_report_blocks.ts";
import { gpuReport, type GpuResults } from "./_gpu_results.ts";

const flags = parseCommand(Deno.args, {
  name: "report",
  path: "benchmarks/device/report.ts",
  summary: "Write BENCHMARKS.md's gpu block from a GPU kit run's results.json.",
  usage: "--results DIR [--peak-gb-s N --peak-gflop-s N] [--out FILE]",
  flags: {
    results: { value: "DIR", help: "The folder holding results.json" },
    "peak-gb-s": { value: "N", help: "The GPU's peak memory bandwidth, GB/s" },
    "peak-gflop-s": { value: "N", help: "The GPU's peak f32 compute, GFLOP/s" },
    out: { value: "FILE", help: "The report whose gpu block is written (default BENCHMARKS.md)" },
  },
});

/** The fields the report reads, checked before any is used. */
const Saved = z.object({
  command: z.string(),
  machine: z.record(z.string(), z.string()),
  tuning: z.object({ choice: z.record(z.string(), z.unknown()) }).passthrough(),
  kernels: z.array(z.object({ name: z.string() }).passthrough()),
  endToEnd: z.object({ label: z.string() }).passthrough().optional(),
  batchedDecode: z.object({ label: z.string() }).passthrough().optional(),
  skipped: z.array(z.string()),
  seconds: z.number(),
});

await runCommand(async () => {
  if (!flags.results) fail("Missing --results DIR (the $OUT of run.sh)");
  const peaks = peaksFromFlags(flags["peak-gb-s"], flags["peak-gflop-s"]);
  const path = `${flags.results}/results.json`;
  const text = await Deno.readTextFile(path).catch((e: Error) => fail(`${path}: ${e.message}`));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`${path} is not JSON: ${(e as Error).message}`);
  }
  const parsed = Saved.safeParse(json);
  if (!parsed.success) fail(`${path} is not a GPU kit result: ${parsed.error.message}`);
  const out = flags.out ?? "BENCHMARKS.md";
  await writeReportBlock(out, "gpu", gpuReport(json as GpuResults, peaks));
  console.log(`Wrote the gpu block of ${out} from ${path}`);
});
