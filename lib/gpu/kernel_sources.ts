/**
 * The WGSL source of every kernel, imported as text from `kernels/`. A kernel that reads
 * stored weights says `//!include packed` and gets `kernels/_packed.wgsl` in its place; `//!include
 * hash` brings the counter-based random numbers of `kernels/_hash.wgsl`, `//!include reduce` the
 * workgroup reductions (`kernels/_reduce.wgsl`), and `//!include matmul_io`
 * the parameters, bindings and element reads and writes both matmul kernels share
 * (`kernels/_matmul_io.wgsl`); `//!include split_tree` and `//!include split_sum` add the
 * register-blocked matmul's split partial blocks (`kernels/_split_tree.wgsl`,
 * `kernels/_split_sum.wgsl`). The kernels with row reductions
 * ({@linkcode SUBGROUP_REDUCTION_KERNELS}) also have a subgroup variant, `NAME_subgroups`: the
 * same kernel with `enable subgroups;` and `kernels/_reduce_subgroups.wgsl` and
 * `kernels/_split_sum_subgroups.wgsl` in place of `_reduce.wgsl` and `_split_sum.wgsl`.
 *
 * @module
 */
import hash from "../../kernels/_hash.wgsl" with { type: "text" };
import packed from "../../kernels/_packed.wgsl" with { type: "text" };
import reduce from "../../kernels/_reduce.wgsl" with { type: "text" };
import reduceSubgroups from "../../kernels/_reduce_subgroups.wgsl" with { type: "text" };
import splitTree from "../../kernels/_split_tree.wgsl" with { type: "text" };
import splitSum from "../../kernels/_split_sum.wgsl" with { type: "text" };
import splitSumSubgroups from "../../kernels/_split_sum_subgroups.wgsl" with { type: "text" };
import matmulIo from "../../kernels/_matmul_io.wgsl" with { type: "text" };
import adamw from "../../kernels/adamw.wgsl" with { type: "text" };
import biasAdd from "../../kernels/bias_add.wgsl" with { type: "text" };
import attention from "../../kernels/attention.wgsl" with { type: "text" };
import attentionCombine from "../../kernels/attention_combine.wgsl" with { type: "text" };
import attentionBackwardDkv from "../../kernels/attention_backward_dkv.wgsl" with { type: "text" };
import attentionBackwardDq from "../../kernels/attention_backward_dq.wgsl" with { type: "text" };
import bgmvExpand from "../../kernels/bgmv_expand.wgsl" with { type: "text" };
import bgmvShrink from "../../kernels/bgmv_shrink.wgsl" with { type: "text" };
import clipScale from "../../kernels/clip_scale.wgsl" with { type: "text" };
import crossEntropyFinish from "../../kernels/cross_entropy_finish.wgsl" with { type: "text" };
import crossEntropyGrad from "../../kernels/cross_entropy_grad.wgsl" with { type: "text" };
import crossEntropyReset from "../../kernels/cross_entropy_reset.wgsl" with { type: "text" };
import crossEntropyStats from "../../kernels/cross_entropy_stats.wgsl" with { type: "text" };
import dropout from "../../kernels/dropout.wgsl" with { type: "text" };
import embedding from "../../kernels/embedding.wgsl" with { type: "text" };
import logprobs from "../../kernels/logprobs.wgsl" with { type: "text" };
import matmul from "../../kernels/matmul.wgsl" with { type: "text" };
import matmulVec4 from "../../kernels/matmul_vec4.wgsl" with { type: "text" };
import rmsnorm from "../../kernels/rmsnorm.wgsl" with { type: "text" };
import rmsnormBackward from "../../kernels/rmsnorm_backward.wgsl" with { type: "text" };
import rope from "../../kernels/rope.wgsl" with { type: "text" };
import ropeKvAppend from "../../kernels/rope_kv_append.wgsl" with { type: "text" };
import sample from "../../kernels/sample.wgsl" with { type: "text" };
import sgd from "../../kernels/sgd.wgsl" with { type: "text" };
import squaredNorm from "../../kernels/squared_norm.wgsl" with { type: "text" };
import swiglu from "../../kernels/swiglu.wgsl" with { type: "text" };
import swigluBackward from "../../kernels/swiglu_backward.wgsl" with { type: "text" };
import transpose from "../../kernels/transpose.wgsl" with { type: "text" };

const INCLUDES: Record<string, string> = {
  hash,
  packed,
  reduce,
  matmul_io: matmulIo,
  split_tree: splitTree,
  split_sum: splitSum,
};

function resolve(source: string, includes: Record<string, string> = INCLUDES): string {
  return source.replace(/^\/\/!include (\w+)$/gm, (_, name: string) => {
    const included = includes[name];
    if (included === undefined) throw new Error(`Unknown WGSL include "${name}"`);
    return included;
  });
}

/** A subgroup variant's source: `enable subgroups;`, then the kernel with subgroup reductions. */
function withSubgroups(source: string): string {
  const subgroupIncludes = { ...INCLUDES, reduce: reduceSubgroups, split_sum: splitSumSubgroups };
  return "enable subgroups;\n" + resolve(source, subgroupIncludes);
}

/**
 * Every kernel's WGSL as written in `kernels/`, before includes are resolved.
 *
 * @example
 * ```ts
 * RAW_KERNEL_SOURCES.rmsnorm.includes("//!include packed"); // true
 * ```
 */
export const RAW_KERNEL_SOURCES = {
  adamw,
  bias_add: biasAdd,
  attention,
  attention_combine: attentionCombine,
  attention_backward_dkv: attentionBackwardDkv,
  attention_backward_dq: attentionBackwardDq,
  bgmv_expand: bgmvExpand,
  bgmv_shrink: bgmvShrink,
  clip_scale: clipScale,
  cross_entropy_finish: crossEntropyFinish,
  cross_entropy_grad: crossEntropyGrad,
  cross_entropy_reset: crossEntropyReset,
  cross_entropy_stats: crossEntropyStats,
  dropout,
  embedding,
  logprobs,
  matmul,
  matmul_vec4: matmulVec4,
  rmsnorm,
  rmsnorm_backward: rmsnormBackward,
  rope,
  rope_kv_append: ropeKvAppend,
  sample,
  sgd,
  squared_norm: squaredNorm,
  swiglu,
  swiglu_backward: swigluBackward,
  transpose,
};

/**
 * The kernels with row reductions that have a subgroup variant (`NAME_subgroups`): RMSNorm
 * forward and backward, the cross-entropy's softmax statistics and loss, the gradient's squared
 * norm, and the register-blocked matmul, whose `gemv_split` GEMV adds its split partial blocks.
 *
 * @example
 * ```ts
 * SUBGROUP_REDUCTION_KERNELS.includes("rmsnorm"); // true: "rmsnorm_subgroups" is its variant
 * ```
 */
export const SUBGROUP_REDUCTION_KERNELS = [
  "matmul_vec4",
  "rmsnorm",
  "rmsnorm_backward",
  "cross_entropy_stats",
  "cross_entropy_finish",
  "squared_norm",
] as const;

/** A kernel with a subgroup variant. */
export type SubgroupReductionKernel = typeof SUBGROUP_REDUCTION_KERNELS[number];

/** Names of the kernels: the files under `kernels/`, and the subgroup variants. */
export type KernelName =
  | keyof typeof RAW_KERNEL_SOURCES
  | `${SubgroupReductionKernel}_subgroups`;

/** Kernel name → complete WGSL source. */
export const KERNEL_SOURCES: Record<KernelName, string> = Object.fromEntries([
  ...Object.entries(RAW_KERNEL_SOURCES).map(([name, source]) => [name, resolve(source)]),
  ...SUBGROUP_REDUCTION_KERNELS.map((name) => [
    `${name}_subgroups`,
    withSubgroups(RAW_KERNEL_SOURCES[name]),
  ]),
]) as Record<KernelName, string>;

/**
 * The kernel to compile for `kernel`: its subgroup variant where it has one and
 * `subgroupReductions` holds (`MatmulChoice.subgroupReductions`), else `kernel` itself.
 *
 * @example
 * ```ts
 * reductionVariant("rmsnorm", true); // "rmsnorm_subgroups"
 * reductionVariant("matmul", true); // "matmul"
 * ```
 */
export function reductionVariant(kernel: KernelName, subgroupReductions: boolean): KernelName {
  const hasVariant = (SUBGROUP_REDUCTION_KERNELS as readonly string[]).includes(kernel);
  return subgroupReductions && hasVariant
    ? `${kernel as SubgroupReductionKernel}_subgroups`
    : kernel;
}
