/**
 * Running the kernel cases, ours and the peer's, and the tables of what they measured. The
 * bench file (`deno bench`) and the BENCHMARKS.md generator both measure through these.
 *
 * @module
 */
import type { Gpu } from "../lib/gpu/device.ts";
import { repeatRecorded, timeRepeated } from "../lib/gpu/time_recorded.ts";
import type { MatmulVariantName } from "../lib/gpu/kernel_choices.ts";
import { MATMUL_VARIANTS, matmulVariantFor } from "../lib/ops/matmul_variants.ts";
import { KERNEL_CASES, type KernelCase, type MatmulShape } from "./_kernel_cases.ts";
import { markdownTable, millis, rate, ratio } from "./_table.ts";
import { startTfjs, type TfjsPeer } from "./_tfjs_peer.ts";

/** Work that runs `reps` times per call and resolves when the GPU is idle. */
export interface Work {
  /** Runs `reps` repetitions (`run(0)`: only the wait for an idle queue). */
  run(reps: number): Promise<void>;
  /** Frees everything the work holds. */
  dispose(): void;
}

/** Every variant, in table order; `tiled` is the kernel from before the variants. */
export const VARIANT_NAMES = Object.keys(MATMUL_VARIANTS) as MatmulVariantName[];

/** Our kernel for `kase` on `gpu` (the adapter's choice, or `variant`), pipelines built. */
export function oursWork(gpu: Gpu, kase: KernelCase, variant?: MatmulVariantName): Work {
  const workload = kase.setup(gpu, variant);
  const recorded = repeatRecorded(gpu, workload.record);
  return {
    run: recorded.run,
    dispose() {
      recorded.dispose();
      workload.dispose();
    },
  };
}

/**
 * tfjs's `tf.matMul` at `shape` with f32 weights, given W in the layout it runs faster at this
 * shape: (N, K) with `transposeB` ("nk"), or (K, N) ("kn"). The layouts are compared on at
 * most 64 rows, one run each after a warm-up; the chosen one is warmed up at the full shape.
 */
export async function peerWork(
  peer: TfjsPeer,
  shape: MatmulShape,
): Promise<Work & { layout: "nk" | "kn" }> {
  const probeRows = Math.min(shape.M, 64);
  const seconds: Record<"nk" | "kn", number> = { nk: 0, kn: 0 };
  for (const layout of ["nk", "kn"] as const) {
    const probe = peer.matmul(probeRows, shape.N, shape.K, layout);
    await probe.run(1); // compiles its shaders: tfjs specialises them to the shape
    const start = performance.now();
    await probe.run(1);
    seconds[layout] = performance.now() - start;
    probe.dispose();
  }
  const layout = seconds.nk <= seconds.kn ? "nk" : "kn";
  const work = peer.matmul(shape.M, shape.N, shape.K, layout);
  await work.run(1);
  return { ...work, layout };
}

/** What was measured for one case. */
export interface KernelMeasurement {
  /** The case. */
  kase: KernelCase;
  /** Our matmul variant (the adapter's choice for the case's M). */
  variant?: MatmulVariantName;
  /** Seconds per run of ours. */
  ours?: number;
  /** tfjs: seconds per run and W's layout, or why it did not run. */
  peer?: { seconds: number; layout: "nk" | "kn" } | { error: string };
  /** Seconds per run with each variant forced. */
  variants: Partial<Record<MatmulVariantName, number>>;
}

const gflops = (kase: KernelCase, seconds?: number) =>
  seconds === undefined ? undefined : kase.flops / seconds / 1e9;
const gbps = (kase: KernelCase, seconds?: number) =>
  seconds === undefined ? undefined : kase.bytes / seconds / 1e9;

/** The command that measures `kase` again (with every variant, for the variants table). */
export function kernelCommand(kase: KernelCase, variants = false): string {
  const env = variants ? "BENCH_VARIANTS=1 " : "";
  return `${env}deno bench -A benchmarks/kernels_bench.ts --filter "${kase.name}"`;
}

/** The main kernel table: ours and tfjs per case, with the ratio. */
export function kernelTable(results: KernelMeasurement[]): string {
  const rows = results.map(({ kase, variant, ours, peer }) => {
    const peerSeconds = peer && "seconds" in peer ? peer.seconds : undefined;
    const peerCell = !kase.matmul
      ? "–"
      : peer && "error" in peer
      ? `not run: ${peer.error}`
      : peerSeconds === undefined
      ? "–"
      : `${rate(gflops(kase, peerSeconds))} (W ${
        (peer as { layout: string }).layout === "nk" ? "(N, K), x·Wᵀ" : "(K, N), x·W"
      })`;
    return [
      kase.name,
      kase.what,
      kase.matmul ? `${variant} (${kase.matmul.dtype} W)` : "–",
      rate(gflops(kase, ours)),
      rate(gbps(kase, ours)),
      peerCell,
      kase.matmul && ours !== undefined && peerSeconds !== undefined
        ? ratio(peerSeconds / ours)
        : "–",
      `\`${kernelCommand(kase)}\``,
    ];
  });
  return markdownTable([
    "kernel",
    "role",
    "our variant",
    "ours GFLOP/s",
    "ours GB/s",
    "tfjs GFLOP/s (f32 W)",
    "ours ÷ tfjs",
    "command",
  ], rows);
}

/** Every variant per matmul case, in GFLOP/s: `tiled` is the kernel before the variants. */
export function variantTable(results: KernelMeasurement[]): string {
  const rows = results.filter((r) => r.kase.matmul).map(({ kase, variant, variants }) => [
    kase.name,
    ...VARIANT_NAMES.map((v) => rate(gflops(kase, variants[v]))),
    variant ?? "–",
    `\`${kernelCommand(kase, true)}\``,
  ]);
  return markdownTable(
    [
      "kernel",
      ...VARIANT_NAMES.map((v) => v === "tiled" ? "tiled (before)" : v),
      "chosen",
      "command",
    ],
    rows,
  );
}

/** Matmul cases where ours is below `goal` times tfjs. */
export function belowGoal(results: KernelMeasurement[], goal: number): KernelMeasurement[] {
  return results.filter(({ kase, ours, peer }) =>
    kase.matmul && ours !== undefined && peer && "seconds" in peer && peer.seconds / ours < goal
  );
}

/** Seconds per run of `work` (built by `make`), the completion floor taken out. */
async function measure(make: () => Promise<Work> | Work, minSeconds: number): Promise<number> {
  const work = await make();
  try {
    return (await timeRepeated(work.run, { minSeconds })).seconds;
  } finally {
    work.dispose();
  }
}

/** How {@linkcode measureKernels} runs. */
export interface KernelRunOptions {
  /** Also time every matmul variant, forced. */
  variants: boolean;
  /** Least seconds per timed submit. */
  minSeconds: number;
  /** Progress lines. */
  log: (message: string) => void;
  /** Only the cases whose name matches (default all). */
  filter?: RegExp;
}

/**
 * Starts the peer (tfjs-backend-webgpu), then times ours, the peer's and (with `variants`)
 * every variant for each kernel case; the peer, or why it did not start, with the results.
 */
export async function measureKernels(
  gpu: Gpu,
  options: KernelRunOptions,
): Promise<{ peer: TfjsPeer | { error: string }; results: KernelMeasurement[] }> {
  const { minSeconds, log } = options;
  const peer = await startTfjs();
  log("error" in peer ? `tfjs not run: ${peer.error}` : `tfjs ${peer.version} started`);
  const results: KernelMeasurement[] = [];
  for (const kase of KERNEL_CASES.filter((k) => options.filter?.test(k.name) ?? true)) {
    const result: KernelMeasurement = { kase, variants: {} };
    results.push(result);
    if (kase.matmul) result.variant = matmulVariantFor(gpu, kase.matmul.M);
    result.ours = await measure(() => oursWork(gpu, kase), minSeconds);
    log(`${kase.name}: ours ${millis(result.ours)} ms (${result.variant ?? kase.what})`);
    if (!kase.matmul) continue;
    if ("error" in peer) {
      result.peer = peer;
    } else {
      let layout: "nk" | "kn" = "nk";
      const seconds = await measure(async () => {
        const work = await peerWork(peer, kase.matmul!);
        layout = work.layout;
        return work;
      }, minSeconds);
      result.peer = { seconds, layout };
      log(`${kase.name}: tfjs ${millis(seconds)} ms`);
    }
    for (const variant of options.variants ? VARIANT_NAMES : []) {
      result.variants[variant] = await measure(() => oursWork(gpu, kase, variant), minSeconds);
      log(`${kase.name}: ${variant} ${millis(result.variants[variant]!)} ms`);
    }
  }
  return { peer, results };
}
