/**
 * The kernel choices a device holds: which matmul variant each class of M runs, and whether a
 * decode step fuses its RMSNorms and SwiGLU into the products' loads. Every device starts with
 * {@linkcode DEFAULT_MATMUL_CHOICE}; `tuneMatmul` (`lib/ops/matmul_tuning.ts`) starts from the
 * prior of the adapter's class ({@linkcode MATMUL_PRIORS}), measures, and replaces it; the ops
 * read it from the device their recorder holds. The variants themselves (kernels and
 * compile-time shapes) are `lib/ops/matmul_variants.ts`.
 *
 * Dimensions: M rows of C (tokens).
 *
 * @module
 */

/**
 * The name of a matmul variant: `tiled` (64×64 tiles in workgroup memory), `blocked`
 * (register-blocked vec4), `gemv` and `gemv_split` (one row per workgroup).
 */
export type MatmulVariantName = "tiled" | "blocked" | "gemv" | "gemv_split";

/** The classes of M: small (decode steps, M ≤ `SMALL_M`) and large (prefill and training). */
export type MatmulClass = "small" | "large";

/**
 * What a device uses: the variant for small and large products, and whether a decode step
 * fuses its RMSNorms and SwiGLU into the products' loads of A (`NORM`, `SWIGLU`) or runs them
 * as kernels of their own. Fusing saves dispatches and the writes of their outputs, but every
 * invocation of a product redoes the norm's or SwiGLU's arithmetic for its columns: a GPU,
 * where a dispatch and its barrier cost more, gains; a CPU adapter can lose.
 */
export interface MatmulChoice extends Record<MatmulClass, MatmulVariantName> {
  /** Fuse RMSNorm and SwiGLU into the loads of decode-sized products. */
  fuseLoads: boolean;
  /**
   * Run the row reductions (RMSNorm forward and backward, the cross-entropy, the gradient's
   * norm) as their subgroup variants (`SUBGROUP_REDUCTION_KERNELS`): only on a device with the
   * `subgroups` feature (`Gpu.hasSubgroups`).
   */
  subgroupReductions: boolean;
}

/** The choice of a device not measured yet: the usual GPU layout, not a CPU adapter's winner. */
export const DEFAULT_MATMUL_CHOICE: Readonly<MatmulChoice> = {
  small: "gemv_split",
  large: "tiled",
  fuseLoads: true,
  subgroupReductions: false,
};

/** The GPU classes' prior: the usual GPU layout, reductions in subgroups where offered. */
const GPU_PRIOR: Readonly<MatmulChoice> = { ...DEFAULT_MATMUL_CHOICE, subgroupReductions: true };

/**
 * The kinds of adapter whose kernels rank alike: `cpu` (a software rasterizer such as lavapipe
 * or SwiftShader), `integrated` (shares memory with the CPU) and `discrete`.
 */
export type AdapterClass = "cpu" | "integrated" | "discrete";

/**
 * The choice each class of adapter starts from, which a measurement must beat clearly and
 * repeatedly to replace (`chooseByTrials`). `cpu` is lavapipe's measured ranking (BENCHMARKS.md:
 * gemv 0.69 against gemv_split 0.097 GFLOP/s at 1×1024→2048, blocked 1.29 against tiled 0.56
 * at 64×1024→512, decode norms and SwiGLU faster as kernels of their own), with reductions in
 * subgroups where the adapter has them (lavapipe has none; on SwiftShader's, 4 wide, a 64×1024
 * RMSNorm took 20.8–34.2 ms against 23.6–48.5 ms in workgroup memory: README, `deno run -A
 * benchmarks/browser_tuning.ts --runs 5`); the GPU classes keep the usual GPU layout, with
 * reductions in subgroups, not measured on a GPU yet.
 */
export const MATMUL_PRIORS: Readonly<Record<AdapterClass, Readonly<MatmulChoice>>> = {
  cpu: { small: "gemv", large: "blocked", fuseLoads: false, subgroupReductions: true },
  integrated: GPU_PRIOR,
  discrete: GPU_PRIOR,
};

/** The facts of an adapter that {@linkcode adapterClassOf} reads. */
export interface AdapterFacts {
  /** `GPUAdapterInfo.vendor`. */
  vendor: string;
  /** `GPUAdapterInfo.architecture`. */
  architecture: string;
  /** `GPUAdapterInfo.description`. */
  description: string;
  /** `GPUAdapterInfo.isFallbackAdapter`. */
  isFallback: boolean;
}

/** Software rasterizers, by the names their adapters report. */
const CPU_ADAPTER = /llvmpipe|lavapipe|swiftshader|software|warp/i;
/** Integrated GPUs, by vendor (Intel, Apple, Qualcomm, ARM) or name. */
const INTEGRATED_ADAPTER = /intel|apple|qualcomm|adreno|\barm\b|mali|integrated|\buhd\b|\biris\b/i;

/** The class of an adapter, from its info: a fallback or software renderer is `cpu`. */
export function adapterClassOf(facts: AdapterFacts): AdapterClass {
  const names = `${facts.vendor} ${facts.architecture} ${facts.description}`;
  if (facts.isFallback || CPU_ADAPTER.test(names)) return "cpu";
  return INTEGRATED_ADAPTER.test(names) ? "integrated" : "discrete";
}

/**
 * Where a device's matmul choice came from: the `default` (nothing decided yet), `measured` at
 * load, read from the on-disk `cache` (`KernelChoiceCache`), or `set` by `setMatmulChoice`.
 */
export type ChoiceOrigin = "default" | "measured" | "cache" | "set";

/** The kernel choices of one device (`Gpu.kernels`), read when kernels are recorded. */
export interface KernelChoices {
  /** The matmul variants and load fusion in use. */
  matmul: MatmulChoice;
  /**
   * Whether `matmul` was measured (`tuneMatmul`) or set (`setMatmulChoice`) on this device;
   * while false it is the default, and `tuneMatmul` measures.
   */
  tuned: boolean;
  /** Where `matmul` came from. */
  origin: ChoiceOrigin;
}

/** The choices of a new device: the default, not tuned. */
export function defaultKernelChoices(): KernelChoices {
  return { matmul: { ...DEFAULT_MATMUL_CHOICE }, tuned: false, origin: "default" };
}
