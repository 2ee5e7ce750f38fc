/**
 * What the GPU kit's benchmark (`gpu_bench.ts`) measured, as it is saved in results.json, and
 * the Markdown made of it: the machine, the kernel choices made at load, the kernel suite (ours,
 * tfjs and every matmul variant), end-to-end prefill, decode and training on one fixture with
 * their dispatch counts, and, given the machine's peaks, each phase against its bound.
 *
 * @module
 */
import type { MatmulTuning } from "../../lib/ops/matmul_tuning.ts";
import type { EndToEndResult } from "../_end_to_end.ts";
import {
  counterTable,
  limitsTable,
  type MachinePeaks,
  throughputTable,
} from "../_end_to_end_tables.ts";
import { type BatchedDecodeResult, batchedDecodeTable } from "../_batched_decode.ts";
import { decodeStepTable } from "../_decode_step_profile.ts";
import { KERNEL_CASES } from "../_kernel_cases.ts";
import { type KernelMeasurement, kernelTable, variantTable } from "../_kernel_suite.ts";
import { markdownTable, rate } from "../_table.ts";
import { tuningTable } from "../_tuning_table.ts";

/** A kernel measurement as saved: the case by name. */
export type SavedKernel = Omit<KernelMeasurement, "kase"> & { name: string };

/** Everything one run of `gpu_bench.ts` measured (results.json). */
export interface GpuResults {
  /** The command line it ran with. */
  command: string;
  /** The machine: adapter, its features, the driver the kit found, the CPU, Deno. */
  machine: Record<string, string>;
  /** The kernel choices measured at load. */
  tuning: MatmulTuning;
  /** The kernel suite, in case order. */
  kernels: SavedKernel[];
  /** The end-to-end run on the fixture, absent when it was skipped. */
  endToEnd?: EndToEndResult;
  /** Continuous batching's decode: one stream, then many; absent when it was skipped. */
  batchedDecode?: BatchedDecodeResult;
  /** Parts left out, each with the reason (the time budget ran out, a flag). */
  skipped: string[];
  /** Wall-clock seconds of the whole run. */
  seconds: number;
}

/** The measurements as saved. */
export function saveKernels(measured: KernelMeasurement[]): SavedKernel[] {
  return measured.map(({ kase, ...rest }) => ({ name: kase.name, ...rest }));
}

/** The saved measurements with their cases again; an unknown case name is an error. */
export function loadKernels(saved: SavedKernel[]): KernelMeasurement[] {
  return saved.map(({ name, ...rest }) => {
    const kase = KERNEL_CASES.find((k) => k.name === name);
    if (!kase) throw new Error(`results.json names kernel case "${name}", which this code lacks`);
    return { kase, ...rest };
  });
}

/**
 * The training's forward alone next to a step, where measured: training ÷ forward is at most
 * about 0.5 when the backward runs as efficiently as the forward (issue 14).
 */
function forwardLine(r: EndToEndResult): string[] {
  if (!r.forward) return [];
  const { batchSize: B, seqLen: T, promptTokens: P } = r.plan;
  const forward = (B * T) / r.forward.seconds, train = (B * T) / r.train.seconds;
  return [
    `${r.label}: the training's forward alone (every position's logits and the loss, ` +
    `${B} × ${T}) ${rate(forward)} tok/s; training ÷ forward ${(train / forward).toFixed(3)} ` +
    "(about 0.5 at most, when the backward runs as efficiently as the forward); training ÷ " +
    `prefill ${(train / (P / r.prefill.seconds)).toFixed(3)}.`,
    "",
  ];
}

/** The Markdown of a run, with the limits table when `peaks` are given. */
export function gpuReport(results: GpuResults, peaks: MachinePeaks | null): string {
  const kernels = loadKernels(results.kernels);
  const e2e = results.endToEnd ? [results.endToEnd] : [];
  return [
    "## On a GPU",
    "",
    `Measured by the GPU kit (\`benchmarks/device/README.md\`): \`${results.command}\`, ` +
    `${results.seconds.toFixed(0)} s in all. Each row's own command reruns it on a machine ` +
    "with the repository.",
    "",
    markdownTable(["", ""], Object.entries(results.machine)),
    "",
    "### Kernel choices made at load",
    "",
    tuningTable(results.tuning),
    "",
    ...(kernels.length
      ? [
        "### Kernels",
        "",
        kernelTable(kernels),
        "",
        ...(kernels.some((k) => Object.keys(k.variants).length) ? [variantTable(kernels), ""] : []),
      ]
      : []),
    ...(e2e.length
      ? [
        "### End to end",
        "",
        throughputTable(e2e),
        "",
        ...e2e.flatMap(forwardLine),
        "### Dispatch counts and other efficiency counters",
        "",
        counterTable(e2e),
        "",
        ...(peaks
          ? [
            "### Against the machine's limits",
            "",
            `Peaks given: \`--peak-gb-s ${peaks.gbPerSecond} --peak-gflop-s ` +
            `${peaks.gflopPerSecond}\`. Decode is held to the bandwidth bound (every weight ` +
            "read once a token); prefill (2·params FLOPs a token) and training (4·params) to " +
            "the FLOP bound. Our kernels compute in f32 through WebGPU, without tensor cores, " +
            "so the f32 peak is the fair one.",
            "",
            limitsTable(e2e, peaks),
            "",
          ]
          : []),
      ]
      : []),
    ...(results.batchedDecode
      ? [
        "### Continuous batching: decode throughput",
        "",
        "Greedy streams on a `BatchedModel`, a third on the base model and the rest on two " +
        "rank-16 adapters: one stream, then all at once (issue 15's goal: 16 streams at 5× " +
        "one stream or more).",
        "",
        batchedDecodeTable([results.batchedDecode]),
        "",
        ...(results.batchedDecode.steps
          ? [
            "One decode step at one row and at N, by kernel (timestamp queries; the difference " +
            "of 10-token and 2-token phases, so the prefill cancels out). On a bandwidth-bound " +
            "GPU the products' GFLOP/s grow with the rows, since each weight read serves them " +
            "all.",
            "",
            decodeStepTable(results.batchedDecode.label, results.batchedDecode.steps),
            "",
          ]
          : []),
      ]
      : []),
    ...(results.skipped.length ? ["Left out: " + results.skipped.join("; ") + ".", ""] : []),
  ].join("\n");
}
