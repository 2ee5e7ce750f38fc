/**
 * The matmul kernel variants, and setting and reading the one a device uses. The fastest
 * variant differs between adapters (CPU adapters such as lavapipe rank them in the reverse
 * order of real GPUs), so `tuneMatmul` (`matmul_tuning.ts`) measures them once per device and
 * records its choice in the device's kernel choices (`Gpu.kernels`, `gpu/kernel_choices.ts`).
 * Until then a device uses `DEFAULT_MATMUL_CHOICE`.
 *
 * Dimensions: M rows of C (tokens).
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import {
  type ChoiceOrigin,
  DEFAULT_MATMUL_CHOICE,
  type MatmulChoice,
  type MatmulClass,
  type MatmulVariantName,
} from "../gpu/kernel_choices.ts";
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

/** The candidates `tuneMatmul` measures for each class of M. */
export const MATMUL_CANDIDATES: Record<MatmulClass, readonly MatmulVariantName[]> = {
  small: ["gemv", "gemv_split"],
  large: ["tiled", "blocked"],
};

/**
 * Sets the matmul choice of `gpu`, for every product recorded on it from now on, and marks it
 * tuned, so that `tuneMatmul` keeps it; `fuseLoads` and `subgroupReductions` default to the
 * default choice's, and `subgroupReductions` holds only on a device with subgroups
 * (`Gpu.hasSubgroups`). `origin` says where the choice came from (`tuneMatmul` passes
 * "measured" or "cache").
 */
export function setMatmulChoice(
  gpu: Gpu,
  choice:
    & Record<MatmulClass, MatmulVariantName>
    & Partial<Pick<MatmulChoice, "fuseLoads" | "subgroupReductions">>,
  origin: Exclude<ChoiceOrigin, "default"> = "set",
): void {
  for (const name of [choice.small, choice.large]) {
    if (!(name in MATMUL_VARIANTS)) throw new RangeError(`Unknown matmul variant "${name}"`);
  }
  const fuseLoads = choice.fuseLoads ?? DEFAULT_MATMUL_CHOICE.fuseLoads;
  const subgroupReductions = gpu.hasSubgroups &&
    (choice.subgroupReductions ?? DEFAULT_MATMUL_CHOICE.subgroupReductions);
  gpu.kernels.matmul = { small: choice.small, large: choice.large, fuseLoads, subgroupReductions };
  gpu.kernels.tuned = true;
  gpu.kernels.origin = origin;
}

/** The variant `gpu` uses for a product with `M` rows. */
export function matmulVariantFor(gpu: Gpu, M: number): MatmulVariantName {
  const { small, large } = gpu.kernels.matmul;
  return M <= SMALL_M ? small : large;
}
