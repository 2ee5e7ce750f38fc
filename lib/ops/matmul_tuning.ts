/**
 * Chooses a device's matmul variants at load: each candidate of a class of M (small: decode
 * steps; large: prefill and training) runs a Linear-shaped product with bf16 weights, then a
 * decode step's RMSNorm + product and SwiGLU + product run fused and as separate kernels. Each
 * decision starts from the prior of the adapter's class (`MATMUL_PRIORS`) and leaves it only
 * when a challenger wins clearly and repeatedly in paired trials of at least 0.2 s each
 * (`chooseByTrials`), so timings within the noise never flip a choice. The choice is kept in
 * the device (`Gpu.kernels`) and in the on-disk cache (`KernelChoiceCache`, keyed by
 * `Gpu.adapterKey`): a later process on the same adapter reads it instead of measuring.
 *
 * Dimensions: M rows (tokens), N output features, K input features.
 *
 * @module
 */
import { chooseByTrials, type TrialOptions } from "../gpu/choose_by_trials.ts";
import type { Gpu } from "../gpu/device.ts";
import { KernelChoiceCache } from "../gpu/kernel_choice_cache.ts";
import {
  type ChoiceOrigin,
  MATMUL_PRIORS,
  type MatmulChoice,
  type MatmulClass,
  type MatmulVariantName,
} from "../gpu/kernel_choices.ts";
import type { CommandRecorder } from "../gpu/recorder.ts";
import { GpuTensor } from "../gpu/tensor.ts";
import { type TrialTimer, trialTimer } from "../gpu/time_trials.ts";
import { recordSwiglu } from "./swiglu.ts";
import { recordMatmul } from "./matmul.ts";
import { MATMUL_CANDIDATES, setMatmulChoice } from "./matmul_variants.ts";
import { recordRmsnorm } from "./rmsnorm.ts";

/** Options of {@linkcode tuneMatmul}. */
export interface TuneMatmulOptions extends TrialOptions {
  /** Measure again even when the device is tuned or the cache holds a choice. */
  force?: boolean;
  /** Shortest timed trial per candidate, in seconds; default 0.2. */
  minSeconds?: number;
  /**
   * Where choices are kept between processes; default `KernelChoiceCache.fromEnvironment()`
   * (`$WEBGPU_LORA_KERNEL_CACHE` or `~/.cache/webgpu-lora/kernel_choices.json`); null: none.
   */
  cache?: KernelChoiceCache | null;
}

/** What {@linkcode tuneMatmul} decided and, when it measured, what it saw. */
export interface MatmulTuning {
  /** The adapter of the device the choice is recorded for. */
  adapterName: string;
  /** The variants chosen. */
  choice: MatmulChoice;
  /** The prior the measurement started from (the adapter class's). */
  prior: MatmulChoice;
  /** Where the choice came from: measured now, read from the cache, or the device's already. */
  origin: ChoiceOrigin;
  /** Whether this call measured. */
  measured: boolean;
  /** Seconds per product of each candidate (its best trial), by class; empty when not measured. */
  timings: Record<MatmulClass, Partial<Record<MatmulVariantName, number>>>;
  /**
   * Seconds of a prefill-sized RMSNorm (`REDUCTION_SHAPE`) with its reduction in workgroup
   * memory and in subgroups (best trials); absent when not measured (no `subgroups`).
   */
  reductions?: { workgroup: number; subgroup: number };
  /**
   * Seconds of a decode step's RMSNorm + product and SwiGLU + product (the small shape, its
   * chosen variant), fused into the products' loads and as kernels of their own (best trials);
   * absent when not measured.
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

/** The RMSNorm that times the row reductions: rows (tokens) × hidden. */
export const REDUCTION_SHAPE: Readonly<{ rows: number; D: number }> = { rows: 64, D: 1024 };

/** Measurements under way, by device: a second call while one runs shares it. */
const inFlight = new WeakMap<Gpu, Promise<MatmulTuning>>();

/**
 * Chooses the matmul variants of `gpu` and records them in `gpu.kernels`: the device's choice
 * if it is tuned already, else the cached choice for its adapter, else a measurement (which is
 * then cached). `force` measures regardless.
 */
export function tuneMatmul(gpu: Gpu, options: TuneMatmulOptions = {}): Promise<MatmulTuning> {
  const pending = inFlight.get(gpu);
  if (pending) return pending;
  if (gpu.kernels.tuned && !options.force) {
    return Promise.resolve(unmeasured(gpu, gpu.kernels.origin));
  }
  const tuning = decide(gpu, options).finally(() => inFlight.delete(gpu));
  inFlight.set(gpu, tuning);
  return tuning;
}

/** The one line a load logs about its kernels. */
export function describeTuning(tuning: MatmulTuning): string {
  const { small, large, fuseLoads, subgroupReductions } = tuning.choice;
  const loads = fuseLoads ? "fused into the products" : "as kernels";
  const reductions = subgroupReductions ? "in subgroups" : "in workgroup memory";
  return `Kernels on ${tuning.adapterName} (${tuning.origin}): decode ${small}, prefill and ` +
    `training ${large}, decode norms and SwiGLU ${loads}, row reductions ${reductions}`;
}

function unmeasured(gpu: Gpu, origin: ChoiceOrigin): MatmulTuning {
  return {
    adapterName: gpu.adapterName,
    choice: { ...gpu.kernels.matmul },
    prior: { ...MATMUL_PRIORS[gpu.adapterClass] },
    origin,
    measured: false,
    timings: { small: {}, large: {} },
    shapes: SHAPES,
  };
}

async function decide(gpu: Gpu, options: TuneMatmulOptions): Promise<MatmulTuning> {
  const cache = options.cache === undefined ? KernelChoiceCache.fromEnvironment() : options.cache;
  const cached = options.force ? null : await cache?.get(gpu.adapterKey);
  // An entry from before subgroup reductions says nothing about them: measure where offered.
  if (cached && (cached.subgroupReductions !== undefined || !gpu.hasSubgroups)) {
    setMatmulChoice(gpu, cached, "cache");
    return unmeasured(gpu, "cache");
  }
  const tuning = await measure(gpu, options);
  await cache?.set(gpu.adapterKey, tuning.choice);
  return tuning;
}

/** A zero-filled tuning tensor on `gpu`. */
function tensor(gpu: Gpu, label: string, shape: number[], dtype: "f32" | "bf16"): GpuTensor {
  return GpuTensor.create(gpu, { shape, dtype, label, category: "workspace" });
}

/**
 * Chooses between ways of recording the same work (`ways`: name → recording), starting from
 * `prior`, by paired trials; returns the choice and each way's best trial.
 */
async function chooseWay<C extends string>(
  gpu: Gpu,
  ways: Record<C, (rec: CommandRecorder) => void>,
  prior: C,
  options: TuneMatmulOptions,
): Promise<{ chosen: C; best: Record<C, number> }> {
  const timers = new Map<C, TrialTimer>();
  try {
    for (const name of Object.keys(ways) as C[]) {
      timers.set(name, await trialTimer(gpu, ways[name], options.minSeconds ?? 0.2));
    }
    return await chooseByTrials([...timers.keys()], prior, (c) => timers.get(c)!.trial(), options);
  } finally {
    for (const timer of timers.values()) timer.dispose();
  }
}

async function measure(gpu: Gpu, options: TuneMatmulOptions): Promise<MatmulTuning> {
  const prior = { ...MATMUL_PRIORS[gpu.adapterClass] };
  const timings: MatmulTuning["timings"] = { small: {}, large: {} };
  const choice: MatmulChoice = { ...prior };
  for (const kind of ["small", "large"] as const) {
    const { M, N, K } = SHAPES[kind];
    const a = tensor(gpu, "tune.a", [M, K], "f32"); // (M, K)
    const b = tensor(gpu, "tune.b", [N, K], "bf16"); // (N, K)
    const c = tensor(gpu, "tune.c", [M, N], "f32"); // (M, N)
    try {
      const product = { a: a.buffer, b: b.buffer, c: c.buffer, M, N, K } as const;
      const ways = Object.fromEntries(MATMUL_CANDIDATES[kind].map((variant) => [
        variant,
        (rec: CommandRecorder) =>
          recordMatmul(rec, { ...product, bLayout: "nk", bDtype: "bf16", variant }),
      ])) as Record<MatmulVariantName, (rec: CommandRecorder) => void>;
      const { chosen, best } = await chooseWay(gpu, ways, prior[kind], options);
      timings[kind] = best;
      choice[kind] = chosen;
    } finally {
      for (const t of [a, b, c]) t.destroy();
    }
  }
  const loads = await measureLoads(gpu, choice.small, prior.fuseLoads, options);
  choice.fuseLoads = loads.chosen === "fused";
  const reductions = gpu.hasSubgroups
    ? await measureReductions(gpu, prior.subgroupReductions, options)
    : null;
  choice.subgroupReductions = reductions?.chosen === "subgroup";
  setMatmulChoice(gpu, choice, "measured");
  return {
    adapterName: gpu.adapterName,
    choice,
    prior,
    origin: "measured",
    measured: true,
    timings,
    loads: loads.best,
    ...reductions && { reductions: reductions.best },
    shapes: SHAPES,
  };
}

/**
 * Chooses between the row reductions in workgroup memory and in subgroups, timing an RMSNorm
 * of `REDUCTION_SHAPE` each way (the device's choice is switched for the recording).
 */
async function measureReductions(
  gpu: Gpu,
  priorSubgroups: boolean,
  options: TuneMatmulOptions,
): Promise<{ chosen: "workgroup" | "subgroup"; best: NonNullable<MatmulTuning["reductions"]> }> {
  const { rows, D } = REDUCTION_SHAPE;
  const t = {
    x: tensor(gpu, "tune.x", [rows, D], "f32"), // (rows, D)
    y: tensor(gpu, "tune.y", [rows, D], "f32"), // (rows, D)
    rstd: tensor(gpu, "tune.rstd", [rows], "f32"), // (rows)
    g: tensor(gpu, "tune.g", [D], "bf16"), // (D)
  };
  const saved = gpu.kernels.matmul.subgroupReductions;
  const norm = (subgroups: boolean) => (rec: CommandRecorder) => {
    gpu.kernels.matmul.subgroupReductions = subgroups;
    recordRmsnorm(rec, {
      x: t.x.buffer,
      weight: t.g,
      eps: 1e-5,
      y: t.y.buffer,
      rstd: t.rstd.buffer,
      rows,
    });
  };
  try {
    return await chooseWay(
      gpu,
      { workgroup: norm(false), subgroup: norm(true) },
      priorSubgroups ? "subgroup" : "workgroup",
      options,
    );
  } finally {
    gpu.kernels.matmul.subgroupReductions = saved;
    for (const each of Object.values(t)) each.destroy();
  }
}

/**
 * Chooses between rmsnorm(x)·Wᵀ and (silu(x)·up)·Wᵀ at the small shape with `variant` fused
 * into the products' loads, and as an RMSNorm and a SwiGLU kernel before plain products.
 */
async function measureLoads(
  gpu: Gpu,
  variant: MatmulVariantName,
  priorFused: boolean,
  options: TuneMatmulOptions,
): Promise<{ chosen: "fused" | "separate"; best: NonNullable<MatmulTuning["loads"]> }> {
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
    return await chooseWay(
      gpu,
      {
        fused: (rec) => {
          recordMatmul(rec, { ...product, a: t.x.buffer, norm });
          recordMatmul(rec, { ...product, a: t.x.buffer, swigluUp: t.up.buffer });
        },
        separate: (rec) => {
          recordRmsnorm(rec, {
            x: t.x.buffer,
            ...norm,
            y: t.h.buffer,
            rstd: t.rstd.buffer,
            rows: M,
          });
          recordMatmul(rec, { ...product, a: t.h.buffer });
          recordSwiglu(rec, t.x.buffer, t.up.buffer, t.h.buffer, M * K);
          recordMatmul(rec, { ...product, a: t.h.buffer });
        },
      },
      priorFused ? "fused" : "separate",
      options,
    );
  } finally {
    for (const each of Object.values(t)) each.destroy();
  }
}
