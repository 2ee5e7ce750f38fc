/**
 * The WGSL source of every kernel, imported as text from `kernels/`. A kernel that reads
 * stored weights says `//!include packed` and gets `kernels/_packed.wgsl` in its place.
 *
 * @module
 */
import packed from "../../kernels/_packed.wgsl" with { type: "text" };
import add from "../../kernels/add.wgsl" with { type: "text" };
import attention from "../../kernels/attention.wgsl" with { type: "text" };
import embedding from "../../kernels/embedding.wgsl" with { type: "text" };
import matmul from "../../kernels/matmul.wgsl" with { type: "text" };
import rmsnorm from "../../kernels/rmsnorm.wgsl" with { type: "text" };
import rope from "../../kernels/rope.wgsl" with { type: "text" };
import swiglu from "../../kernels/swiglu.wgsl" with { type: "text" };

const INCLUDES: Record<string, string> = { packed };

function resolve(source: string): string {
  return source.replace(/^\/\/!include (\w+)$/m, (_, name: string) => {
    const included = INCLUDES[name];
    if (included === undefined) throw new Error(`Unknown WGSL include "${name}"`);
    return included;
  });
}

const RAW = { add, attention, embedding, matmul, rmsnorm, rope, swiglu };

/** Names of the kernels (files under `kernels/`). */
export type KernelName = keyof typeof RAW;

/** Kernel name → complete WGSL source. */
export const KERNEL_SOURCES: Record<KernelName, string> = Object.fromEntries(
  Object.entries(RAW).map(([name, source]) => [name, resolve(source)]),
) as Record<KernelName, string>;
