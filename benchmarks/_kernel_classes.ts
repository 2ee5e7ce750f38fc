/**
 * The classes a step's dispatches are added up by in the profile (`benchmarks/profile.ts`):
 * products split by role (the forward's x·Wᵀ, the backward's dy·W against the same bf16
 * weights, the LoRA products, the LM head's), attention forward and backward, norms, the
 * loss, the optimizer, and the element-wise rest.
 *
 * @module
 */
import type { ProfiledDispatch } from "../lib/gpu/dispatch_profiler.ts";
import { dtypeCode } from "../lib/ops/dtype_code.ts";

/** A class of dispatches in the profile. */
export type KernelClass =
  | "LM head products"
  | "forward products"
  | "backward dx products"
  | "LoRA products"
  | "attention forward"
  | "attention backward"
  | "norms"
  | "loss"
  | "optimizer"
  | "element-wise";

/** Every class, in the order the profile lists them. */
export const KERNEL_CLASSES: readonly KernelClass[] = [
  "LM head products",
  "forward products",
  "backward dx products",
  "LoRA products",
  "attention forward",
  "attention backward",
  "norms",
  "loss",
  "optimizer",
  "element-wise",
];

const BY_KERNEL: Partial<Record<string, KernelClass>> = {
  bgmv_shrink: "LoRA products",
  bgmv_expand: "LoRA products",
  attention: "attention forward",
  attention_combine: "attention forward",
  attention_backward_dq: "attention backward",
  attention_backward_dkv: "attention backward",
  rmsnorm: "norms",
  rmsnorm_backward: "norms",
  cross_entropy_reset: "loss",
  cross_entropy_stats: "loss",
  cross_entropy_finish: "loss",
  adamw: "optimizer",
  sgd: "optimizer",
  squared_norm: "optimizer",
  clip_scale: "optimizer",
};

/** The weight buffers that tell products apart. */
export interface ProductBuffers {
  /** The LM head's chunks and their transposed copies. */
  lmHead: ReadonlySet<GPUBuffer>;
  /** The transposed copies of the weights that the backward reads (`TransposedWeights`). */
  transposed: ReadonlySet<GPUBuffer>;
}

/**
 * The class of a dispatch. A product (binding 2 is B) is the LM head's when B is one of
 * its buffers, a backward dx product when B is a transposed copy, a LoRA product when B is f32
 * (the adapter's A and B, or activations in its weight gradients), else a forward product when
 * it reads B as (N, K) and a backward dx product when it reads B as (K, N).
 */
export function kernelClassOf(
  { dispatch }: ProfiledDispatch,
  buffers: ProductBuffers,
): KernelClass {
  const kernel = dispatch.kernel.replace(/_subgroups$/, ""); // a subgroup variant: its kernel's
  if (kernel === "matmul" || kernel === "matmul_vec4") {
    const b = dispatch.buffers[1];
    const bBuffer = (b && ("buffer" in b && !(b instanceof GPUBuffer) ? b.buffer : b)) as
      | GPUBuffer
      | null;
    if (bBuffer && buffers.lmHead.has(bBuffer)) return "LM head products";
    if (bBuffer && buffers.transposed.has(bBuffer)) return "backward dx products";
    if (dispatch.constants?.B_DTYPE === dtypeCode("f32")) return "LoRA products";
    return dispatch.constants?.B_TRANS === 1 ? "forward products" : "backward dx products";
  }
  return BY_KERNEL[kernel] ?? "element-wise";
}

/** Seconds per class, and the total, of a list of profiled dispatches. */
export function secondsByClass(
  dispatches: ProfiledDispatch[],
  buffers: ProductBuffers,
): { total: number; byClass: Record<KernelClass, number>; count: Record<KernelClass, number> } {
  const byClass = Object.fromEntries(KERNEL_CLASSES.map((c) => [c, 0])) as Record<
    KernelClass,
    number
  >;
  const count = { ...byClass };
  let total = 0;
  for (const d of dispatches) {
    const c = kernelClassOf(d, buffers);
    byClass[c] += d.seconds;
    count[c]++;
    total += d.seconds;
  }
  return { total, byClass, count };
}
