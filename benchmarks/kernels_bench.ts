/**
 * Kernel benchmarks: matmul at the shapes of Llama-3.2-1B (GFLOP/s), attention and RMSNorm
 * (GB/s), each next to tfjs-backend-webgpu's `tf.matMul` in the same process on the same
 * adapter. Every iteration is ONE submit of `reps` runs and one wait for the queue, with `reps`
 * chosen in the warm-up so that Deno's ~10 ms completion floor is small against it.
 * Deno.bench reports the time per submit; the table printed at the end has the derived rates.
 *
 * ```sh
 * deno bench -A benchmarks/kernels_bench.ts [--filter NAME]
 * BENCH_VARIANTS=1 deno bench -A benchmarks/kernels_bench.ts   # also every matmul variant
 * ```
 *
 * @module
 */
import { acquireGpu, findAdapter } from "../lib/gpu/device.ts";
import { completionFloor, timeRepeated } from "../lib/gpu/time_recorded.ts";
import { tuneMatmul } from "../lib/ops/matmul_tuning.ts";
import { matmulVariantFor } from "../lib/ops/matmul_variants.ts";
import { KERNEL_CASES } from "./_kernel_cases.ts";
import {
  type KernelMeasurement,
  kernelTable,
  oursWork,
  peerWork,
  VARIANT_NAMES,
  variantTable,
  type Work,
} from "./_kernel_suite.ts";
import { startTfjs } from "./_tfjs_peer.ts";

const MIN_SECONDS = 0.25; // shortest measured submit
const withVariants = Deno.env.get("BENCH_VARIANTS") === "1";

const gpu = (await findAdapter()) ? await acquireGpu() : null;
if (gpu) await tuneMatmul(gpu);
const peer = gpu ? await startTfjs() : null;

/** The repetitions per submit of each group, set by its first bench (ours). */
const groupReps = new Map<string, number>();
const benchGroups = new Set<string>();

/**
 * Registers a bench whose first (warm-up) iteration builds the work and, for the first bench
 * of a group, picks `reps` so that a submit lasts MIN_SECONDS; the others of the group use the
 * same `reps`, so Deno's per-iteration times compare directly. Each measured iteration is one
 * submit of `reps` runs; `onTime` gets the seconds per run, the completion floor taken out.
 */
function benchWork(
  name: string,
  group: string,
  make: () => Promise<Work> | Work,
  onTime: (seconds: number) => void,
): void {
  let state: { work: Work; reps: number; floor: number } | null = null;
  const first = !benchGroups.has(group);
  benchGroups.add(group);
  Deno.bench({
    name,
    group,
    baseline: first,
    ignore: !gpu,
    n: 1,
    warmup: 1,
    async fn(b) {
      if (!state) {
        const work = await make();
        const reps = groupReps.get(group);
        if (reps) {
          state = { work, reps, floor: await completionFloor(work.run) };
          return;
        }
        const timing = await timeRepeated(work.run, { minSeconds: MIN_SECONDS });
        groupReps.set(group, timing.reps);
        state = { work, reps: timing.reps, floor: timing.floorSeconds };
        return;
      }
      const start = performance.now();
      b.start();
      await state.work.run(state.reps);
      b.end();
      onTime(Math.max((performance.now() - start) / 1000 - state.floor, 0) / state.reps);
    },
  });
}
/** Keeps the smallest time seen. */
const keepMin = (set: (s: number) => void, get: () => number | undefined) => (s: number) =>
  set(Math.min(s, get() ?? Infinity));

const results: KernelMeasurement[] = KERNEL_CASES.map((kase) => ({ kase, variants: {} }));
for (const result of results) {
  const { kase } = result;
  if (gpu && kase.matmul) result.variant = matmulVariantFor(gpu, kase.matmul.M);
  benchWork(
    kase.name,
    kase.name,
    () => oursWork(gpu!, kase),
    keepMin((s) => result.ours = s, () => result.ours),
  );
  if (kase.matmul && peer && "error" in peer) result.peer = peer;
  if (kase.matmul && peer && !("error" in peer)) {
    const shape = kase.matmul;
    let layout: "nk" | "kn" = "nk";
    benchWork(`${kase.name} tfjs`, kase.name, async () => {
      const work = await peerWork(peer, shape);
      layout = work.layout;
      return work;
    }, (seconds) => {
      const best = result.peer && "seconds" in result.peer ? result.peer.seconds : Infinity;
      if (seconds < best) result.peer = { seconds, layout };
    });
  }
  for (const variant of withVariants && kase.matmul ? VARIANT_NAMES : []) {
    benchWork(
      `${kase.name} [${variant}]`,
      kase.name,
      () => oursWork(gpu!, kase, variant),
      keepMin((s) => result.variants[variant] = s, () => result.variants[variant]),
    );
  }
}

globalThis.addEventListener("unload", () => {
  if (!gpu) return;
  const tfjs = peer && !("error" in peer) ? `tfjs ${peer.version}` : "tfjs not run";
  console.log(`\nAdapter: ${gpu.adapterName}; peer: ${tfjs}\n`);
  console.log(kernelTable(results));
  if (withVariants) console.log(`\n${variantTable(results)}`);
});
