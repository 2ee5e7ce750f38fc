/**
 * The matmul kernel variants and which one each adapter uses. The fastest variant differs
 * between adapters (CPU adapters such as lavapipe rank them in the reverse order of real GPUs),
 * so `tuneMatmul` (`matmul_tuning.ts`) measures them once per adapter and records its choice here, keyed
 * by the adapter's name. Until then an adapter uses {@linkcode DEFAULT_MATMUL_CHOICE}.
 *
 * Dimensions: M rows of C (tokens).
 *
 * @module
 */
import type { KernelName } from "../gpu/kernel_sources.ts";

/** The tiled kernel, `kernels/matmul.wgsl`. */
export interface TiledMatmul {
  /** The kernel file. */
  kernel: Extract<KernelName, "matmul">;
}

/** The register-blocked kernel, `kernels/matmul_vec4.wgsl`, and its compile-time shape. */
export interface BlockedMatmul {
  /** The kernel file. */
  kernel: Extract<KernelName, "matmul_vec4">;
  /** Rows of C per workgroup (TM: 1, 2 or 4). */
  rows: number;
  /** Invocations per workgroup (WG, at most 64); fewer for a narrow C when K is not split. */
  workgroup: number;
  /** Invocations of a workgroup that split K between them (SPLIT, divides WG). */
  split: number;
}

/** A matmul kernel and its compile-time shape. */
export type MatmulVariant = TiledMatmul | BlockedMatmul;

/** The name of a variant. */
export type MatmulVariantName = "tiled" | "blocked" | "gemv" | "gemv_split";

/**
 * Every variant:
 * - `tiled`: 64×64 tiles staged in workgroup memory, 4×4 per invocation (`kernels/matmul.wgsl`);
 * - `blocked`: register-blocked vec4, 4 rows × 4 columns per invocation, no workgroup memory;
 * - `gemv`: one row per workgroup, 4 columns per invocation, each over the whole of K;
 * - `gemv_split`: one row per workgroup, 64 invocations splitting K for 4 columns, reduced
 *   in workgroup memory (reads a weight row side by side, as GPUs like).
 */
export const MATMUL_VARIANTS: Readonly<Record<MatmulVariantName, MatmulVariant>> = {
  tiled: { kernel: "matmul" },
  blocked: { kernel: "matmul_vec4", rows: 4, workgroup: 32, split: 1 },
  gemv: { kernel: "matmul_vec4", rows: 1, workgroup: 32, split: 1 },
  gemv_split: { kernel: "matmul_vec4", rows: 1, workgroup: 64, split: 64 },
};

/** Products with at most this many rows (decode steps) are "small". */
export const SMALL_M = 4;

/** The classes of M: small (decode steps) and large (prefill and training). */
export type MatmulClass = "small" | "large";

/**
 * What an adapter uses: the variant for small (M ≤ 4) and large products, and whether a decode
 * step fuses its RMSNorms and SwiGLU into the products' loads of A (`NORM`, `SWIGLU`) or runs
 * them as kernels of their own. Fusing saves dispatches and the writes of their outputs, but
 * every invocation of a product redoes the norm's or SwiGLU's arithmetic for its columns: a
 * GPU, where a dispatch and its barrier cost more, gains; a CPU adapter can lose.
 */
export interface MatmulChoice extends Record<MatmulClass, MatmulVariantName> {
  /** Fuse RMSNorm and SwiGLU into the loads of decode-sized products. */
  fuseLoads: boolean;
}

/** The candidates `tuneMatmul` measures for each class of M. */
export const MATMUL_CANDIDATES: Record<MatmulClass, readonly MatmulVariantName[]> = {
  small: ["gemv", "gemv_split"],
  large: ["tiled", "blocked"],
};

/** The choice of an adapter not measured yet: the usual GPU layout, not a CPU adapter's winner. */
export const DEFAULT_MATMUL_CHOICE: Readonly<MatmulChoice> = {
  small: "gemv_split",
  large: "tiled",
  fuseLoads: true,
};

const choices = new Map<string, MatmulChoice>();

/** The choice recorded for `adapterName`, or the default. */
export function matmulChoice(adapterName: string): MatmulChoice {
  return choices.get(adapterName) ?? { ...DEFAULT_MATMUL_CHOICE };
}

/** Whether a choice was recorded (measured or set) for `adapterName`. */
export function hasMatmulChoice(adapterName: string): boolean {
  return choices.has(adapterName);
}

/**
 * Records the choice for `adapterName`, for every device on that adapter in this process;
 * `fuseLoads` defaults to the default choice's.
 */
export function setMatmulChoice(
  adapterName: string,
  choice: Record<MatmulClass, MatmulVariantName> & { fuseLoads?: boolean },
): void {
  for (const name of [choice.small, choice.large]) {
    if (!(name in MATMUL_VARIANTS)) throw new RangeError(`Unknown matmul variant "${name}"`);
  }
  const fuseLoads = choice.fuseLoads ?? DEFAULT_MATMUL_CHOICE.fuseLoads;
  choices.set(adapterName, { small: choice.small, large: choice.large, fuseLoads });
}

/** The variant `adapterName` uses for a product with `M` rows. */
export function matmulVariantFor(adapterName: string, M: number): MatmulVariantName {
  const choice = matmulChoice(adapterName);
  return M <= SMALL_M ? choice.small : choice.large;
}
