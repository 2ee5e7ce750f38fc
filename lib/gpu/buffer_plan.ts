/**
 * Typed memory plans, in the spirit of llm.c's struct of named pointers: a plan is a plain
 * object whose leaves are {@linkcode BufferSpec}s (in named fields, arrays and nested records),
 * sized in one place. {@linkcode allocatePlan} turns it into the same structure of
 * {@linkcode GpuTensor}s, and {@linkcode planBuffers} lists its leaves, so that what a
 * component allocates and what the memory estimator sums are one description, checked by the
 * compiler rather than looked up by string.
 *
 * @module
 */
import { shapeSize } from "../format/safetensors.ts";
import type { Gpu } from "./device.ts";
import { type GpuDType, gpuDTypeBytes, GpuTensor } from "./tensor.ts";

/** The memory-accounting categories of planned buffers. */
export type BufferCategory =
  | "weights"
  | "activations"
  | "kv-cache"
  | "lora"
  | "gradients"
  | "optimizer"
  | "workspace";

/** One planned buffer. */
export interface BufferSpec {
  /** Its label in errors and debugging, e.g. `layers.3.q`. */
  name: string;
  /** Dimensions. */
  shape: number[];
  /** Element type. */
  dtype: GpuDType;
  /** Accounting category. */
  category: BufferCategory;
}

/** A plan's structure with every {@linkcode BufferSpec} replaced by its allocated tensor. */
export type Allocated<P> = P extends BufferSpec ? GpuTensor
  : P extends readonly (infer E)[] ? Allocated<E>[]
  : P extends object ? { [K in keyof P]: Allocated<P[K]> }
  : P;

/** A buffer spec of `category` with element type f32. */
export function f32Spec(name: string, shape: number[], category: BufferCategory): BufferSpec {
  return { name, shape, dtype: "f32", category };
}

/** Bytes of a planned buffer (16-bit types packed two per word, rounded up to 4 bytes). */
export function specBytes(spec: BufferSpec): number {
  return Math.max(4, Math.ceil((shapeSize(spec.shape) * gpuDTypeBytes(spec.dtype)) / 4) * 4);
}

/** Every buffer of a plan, in field order. */
export function planBuffers(plan: object): BufferSpec[] {
  const out: BufferSpec[] = [];
  const visit = (node: unknown): void => {
    if (isBufferSpec(node)) out.push(node);
    else if (Array.isArray(node)) node.forEach(visit);
    else if (typeof node === "object" && node !== null) Object.values(node).forEach(visit);
  };
  visit(plan);
  return out;
}

/** Allocates every buffer of `plan`, zero-filled, in the plan's own structure. */
export function allocatePlan<P extends object>(gpu: Gpu, plan: P): Allocated<P> {
  const allocate = (node: unknown): unknown => {
    if (isBufferSpec(node)) return GpuTensor.create(gpu, { ...node, label: node.name });
    if (Array.isArray(node)) return node.map(allocate);
    if (typeof node === "object" && node !== null) {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, allocate(v)]));
    }
    return node;
  };
  return allocate(plan) as Allocated<P>;
}

/** Destroys every tensor of an allocated plan. */
export function destroyAllocated(allocated: object): void {
  const visit = (node: unknown): void => {
    if (node instanceof GpuTensor) node.destroy();
    else if (Array.isArray(node)) node.forEach(visit);
    else if (typeof node === "object" && node !== null) Object.values(node).forEach(visit);
  };
  visit(allocated);
}

function isBufferSpec(node: unknown): node is BufferSpec {
  return typeof node === "object" && node !== null && "shape" in node && "dtype" in node &&
    "category" in node && "name" in node;
}
