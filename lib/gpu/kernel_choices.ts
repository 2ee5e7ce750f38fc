/**
 * The kernel choices a device holds: which matmul variant each class of M runs, and whether a
 * decode step fuses its RMSNorms and SwiGLU into the products' loads. Every device starts with
 * {@linkcode DEFAULT_MATMUL_CHOICE}; `tuneMatmul` (`lib/ops/matmul_tuning.ts`) measures and
 * replaces it, and the ops read it from the device their recorder holds. The variants
 * themselves (kernels and compile-time shapes) are `lib/ops/matmul_variants.ts`.
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
}

/** The choice of a device not measured yet: the usual GPU layout, not a CPU adapter's winner. */
export const DEFAULT_MATMUL_CHOICE: Readonly<MatmulChoice> = {
  small: "gemv_split",
  large: "tiled",
  fuseLoads: true,
};

/** The kernel choices of one device (`Gpu.kernels`), read when kernels are recorded. */
export interface KernelChoices {
  /** The matmul variants and load fusion in use. */
  matmul: MatmulChoice;
  /**
   * Whether `matmul` was measured (`tuneMatmul`) or set (`setMatmulChoice`) on this device;
   * while false it is the default, and `tuneMatmul` measures.
   */
  tuned: boolean;
}

/** The choices of a new device: the default, not tuned. */
export function defaultKernelChoices(): KernelChoices {
  return { matmul: { ...DEFAULT_MATMUL_CHOICE }, tuned: false };
}
