/**
 * The `DTYPE` override values that kernels use to unpack stored tensors.
 *
 * @module
 */
import type { GpuDType } from "../gpu/tensor.ts";

/** Kernel code of a stored dtype: f32 0, bf16 1, f16 2. */
export function dtypeCode(dtype: GpuDType): number {
  switch (dtype) {
    case "f32":
      return 0;
    case "bf16":
      return 1;
    case "f16":
      return 2;
    default:
      throw new Error(`Dtype ${dtype} cannot be read as a weight`);
  }
}
