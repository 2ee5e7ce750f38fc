/**
 * Chooses an adapter's matmul variants by a short measurement: each candidate of a class of M
 * (small: decode steps; large: prefill and training) runs a Linear-shaped product with bf16
 * weights, and the fastest is recorded for the adapter (see `matmul_variants.ts`). Done once
 * per adapter name in a process; later calls return the recorded choice.
 *
 * Dimensions: M rows (tokens), N output features, K input features.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { GpuTensor } from "../gpu/tensor.ts";
import { timeRecorded } from "../gpu/time_recorded.ts";
import { recordMatmul } from "./matmul.ts";
import {
  hasMatmulChoice,
  MATMUL_CANDIDATES,
  type MatmulChoice,
  matmulChoice,
  type MatmulVariantName,
  setMatmulChoice,
} from "./matmul_variants.ts";

/** Options of {@linkcode tuneMatmul}. */
export interface TuneMatmulOptions {
  /** Measure again even when the adapter has a choice. */
  force?: boolean;
  /** Shortest timed run per candidate, in seconds; default 0.03. */
  minSeconds?: number;
}

/** What {@linkcode tuneMatmul} decided and, when it measured, what it saw. */
export interface MatmulTuning {
  /** The adapter the choice is recorded for. */
  adapterName: string;
  /** The variants chosen. */
  choice: MatmulChoice;
  /** Whether this call measured (false: the recorded choice was returned). */
  measured: boolean;
  /** Seconds per product of each candidate, by class; empty when not measured. */
  timings: { [C in keyof MatmulChoice]: Partial<Record<MatmulVariantName, number>> };
  /** The (M, N, K) measured for each class. */
  shapes: { [C in keyof MatmulChoice]: { M: number; N: number; K: number } };
}

/** Shapes measured: small enough to be quick on a CPU adapter, large enough to rank kernels. */
const SHAPES: MatmulTuning["shapes"] = {
  small: { M: 1, N: 2048, K: 1024 },
  large: { M: 64, N: 512, K: 1024 },
};

const inFlight = new Map<string, Promise<MatmulTuning>>();

/**
 * Measures the matmul candidates on `gpu` and records the fastest for its adapter, unless a
 * choice is already recorded (or being measured) for that adapter name.
 */
export function tuneMatmul(gpu: Gpu, options: TuneMatmulOptions = {}): Promise<MatmulTuning> {
  const name = gpu.adapterName;
  const pending = inFlight.get(name);
  if (pending) return pending;
  if (hasMatmulChoice(name) && !options.force) {
    return Promise.resolve({
      adapterName: name,
      choice: matmulChoice(name),
      measured: false,
      timings: { small: {}, large: {} },
      shapes: SHAPES,
    });
  }
  const tuning = measure(gpu, options.minSeconds ?? 0.03).finally(() => inFlight.delete(name));
  inFlight.set(name, tuning);
  return tuning;
}

async function measure(gpu: Gpu, minSeconds: number): Promise<MatmulTuning> {
  const timings: MatmulTuning["timings"] = { small: {}, large: {} };
  const choice = { ...matmulChoice(gpu.adapterName) };
  for (const kind of ["small", "large"] as const) {
    const { M, N, K } = SHAPES[kind];
    const tensor = (label: string, shape: number[], dtype: "f32" | "bf16") =>
      GpuTensor.create(gpu, { shape, dtype, label, category: "workspace" });
    const a = tensor("tune.a", [M, K], "f32"); // (M, K)
    const b = tensor("tune.b", [N, K], "bf16"); // (N, K)
    const c = tensor("tune.c", [M, N], "f32"); // (M, N)
    try {
      let best = Infinity;
      for (const variant of MATMUL_CANDIDATES[kind]) {
        const { seconds } = await timeRecorded(gpu, (rec) =>
          recordMatmul(rec, {
            a: a.buffer,
            b: b.buffer,
            c: c.buffer,
            M,
            N,
            K,
            bLayout: "nk",
            bDtype: "bf16",
            variant,
          }), { minSeconds });
        timings[kind][variant] = seconds;
        if (seconds < best) [best, choice[kind]] = [seconds, variant];
      }
    } finally {
      for (const t of [a, b, c]) t.destroy();
    }
  }
  setMatmulChoice(gpu.adapterName, choice);
  return { adapterName: gpu.adapterName, choice, measured: true, timings, shapes: SHAPES };
}
