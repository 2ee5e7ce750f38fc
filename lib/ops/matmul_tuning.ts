/**
 * Chooses a device's matmul variants by a short measurement: each candidate of a class of M
 * (small: decode steps; large: prefill and training) runs a Linear-shaped product with bf16
 * weights, and the fastest is recorded in the device's kernel choices (`Gpu.kernels`). Then a
 * decode step's RMSNorm + product and SwiGLU + product run fused and as separate kernels, and
 * the faster way is recorded too. Done once per device; later calls return its choice.
 *
 * Dimensions: M rows (tokens), N output features, K input features.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { MatmulChoice, MatmulClass, MatmulVariantName } from "../gpu/kernel_choices.ts";
import { GpuTensor } from "../gpu/tensor.ts";
import { timeRecorded } from "../gpu/time_recorded.ts";
import { recordSwiglu } from "./swiglu.ts";
import { recordMatmul } from "./matmul.ts";
import { MATMUL_CANDIDATES, setMatmulChoice } from "./matmul_variants.ts";
import { recordRmsnorm } from "./rmsnorm.ts";

/** Options of {@linkcode tuneMatmul}. */
export interface TuneMatmulOptions {
  /** Measure again even when the device is tuned. */
  force?: boolean;
  /** Shortest timed run per candidate, in seconds; default 0.03. */
  minSeconds?: number;
}

/** What {@linkcode tuneMatmul} decided and, when it measured, what it saw. */
export interface MatmulTuning {
  /** The adapter of the device the choice is recorded for. */
  adapterName: string;
  /** The variants chosen. */
  choice: MatmulChoice;
  /** Whether this call measured (false: the device's choice was returned). */
  measured: boolean;
  /** Seconds per product of each candidate, by class; empty when not measured. */
  timings: Record<MatmulClass, Partial<Record<MatmulVariantName, number>>>;
  /**
   * Seconds of a decode step's RMSNorm + product and SwiGLU + product (the small shape, its
   * chosen variant), fused into the products' loads and as kernels of their own; absent when
   * not measured.
   */
  loads?: { fused: number; separate: number };
  /** The (M, N, K) measured for each class. */
  shapes: Record<MatmulClass, { M: number; N: number; K: number }>;
}

/** Shapes measured: small enough to be quick on a CPU adapter, large enough to rank kernels. */
const SHAPES: MatmulTuning["shapes"] = {
  small: { M: 1, N: 2048, K: 1024 },
  large: { M: 64, N: 512, K: 1024 },
};

/** Measurements under way, by device: a second call while one runs shares it. */
const inFlight = new WeakMap<Gpu, Promise<MatmulTuning>>();

/**
 * Measures the matmul candidates on `gpu` and records the fastest in `gpu.kernels`, unless the
 * device is already tuned (or being measured).
 */
export function tuneMatmul(gpu: Gpu, options: TuneMatmulOptions = {}): Promise<MatmulTuning> {
  const pending = inFlight.get(gpu);
  if (pending) return pending;
  if (gpu.kernels.tuned && !options.force) {
    return Promise.resolve({
      adapterName: gpu.adapterName,
      choice: { ...gpu.kernels.matmul },
      measured: false,
      timings: { small: {}, large: {} },
      shapes: SHAPES,
    });
  }
  const tuning = measure(gpu, options.minSeconds ?? 0.03).finally(() => inFlight.delete(gpu));
  inFlight.set(gpu, tuning);
  return tuning;
}

/** A zero-filled tuning tensor on `gpu`. */
function tensor(gpu: Gpu, label: string, shape: number[], dtype: "f32" | "bf16"): GpuTensor {
  return GpuTensor.create(gpu, { shape, dtype, label, category: "workspace" });
}

async function measure(gpu: Gpu, minSeconds: number): Promise<MatmulTuning> {
  const timings: MatmulTuning["timings"] = { small: {}, large: {} };
  const choice: MatmulChoice = { ...gpu.kernels.matmul };
  for (const kind of ["small", "large"] as const) {
    const { M, N, K } = SHAPES[kind];
    const a = tensor(gpu, "tune.a", [M, K], "f32"); // (M, K)
    const b = tensor(gpu, "tune.b", [N, K], "bf16"); // (N, K)
    const c = tensor(gpu, "tune.c", [M, N], "f32"); // (M, N)
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
  const loads = await measureLoads(gpu, choice.small, minSeconds);
  choice.fuseLoads = loads.fused <= loads.separate;
  setMatmulChoice(gpu, choice);
  return { adapterName: gpu.adapterName, choice, measured: true, timings, loads, shapes: SHAPES };
}

/**
 * Seconds of rmsnorm(x)·Wᵀ and (silu(x)·up)·Wᵀ at the small shape with `variant`: fused into
 * the products' loads, and as an RMSNorm and a SwiGLU kernel before plain products.
 */
async function measureLoads(
  gpu: Gpu,
  variant: MatmulVariantName,
  minSeconds: number,
): Promise<NonNullable<MatmulTuning["loads"]>> {
  const { M, N, K } = SHAPES.small;
  const t = {
    x: tensor(gpu, "tune.x", [M, K], "f32"), // (M, K) the input, or the gate
    up: tensor(gpu, "tune.up", [M, K], "f32"), // (M, K)
    h: tensor(gpu, "tune.h", [M, K], "f32"), // (M, K) rmsnorm(x) or silu(x)·up
    rstd: tensor(gpu, "tune.rstd", [M], "f32"), // (M)
    g: tensor(gpu, "tune.g", [K], "bf16"), // (K)
    w: tensor(gpu, "tune.w", [N, K], "bf16"), // (N, K)
    y: tensor(gpu, "tune.y", [M, N], "f32"), // (M, N)
  };
  const product = {
    b: t.w.buffer,
    c: t.y.buffer,
    M,
    N,
    K,
    bLayout: "nk",
    bDtype: "bf16",
    variant,
  } as const;
  const norm = { weight: t.g, eps: 1e-5 };
  try {
    const fused = await timeRecorded(gpu, (rec) => {
      recordMatmul(rec, { ...product, a: t.x.buffer, norm });
      recordMatmul(rec, { ...product, a: t.x.buffer, swigluUp: t.up.buffer });
    }, { minSeconds });
    const separate = await timeRecorded(gpu, (rec) => {
      recordRmsnorm(rec, { x: t.x.buffer, ...norm, y: t.h.buffer, rstd: t.rstd.buffer, rows: M });
      recordMatmul(rec, { ...product, a: t.h.buffer });
      recordSwiglu(rec, t.x.buffer, t.up.buffer, t.h.buffer, M * K);
      recordMatmul(rec, { ...product, a: t.h.buffer });
    }, { minSeconds });
    return { fused: fused.seconds, separate: separate.seconds };
  } finally {
    for (const each of Object.values(t)) each.destroy();
  }
}
