/**
 * The adapted projection in plain TypeScript, shared by the reference model and the CPU
 * backend: y = x·Wᵀ + b + s·B·(A·xd), where b is the frozen bias of families that have one, and
 * xd is x, or dropout(x) in training.
 *
 * Dimensions: T rows, IN / OUT the projection's features, R rank.
 *
 * @module
 */
import type { FloatArray } from "./_array.ts";
import { linearForward } from "./linear.ts";
import { loraForward } from "./lora.ts";
import type { ReferenceLinear } from "./model_weights.ts";

/**
 * y (T, OUT) = x·Wᵀ (+ b), plus s·B·(A·xd) when `lin` is adapted; also returns xa = xd·Aᵀ (T, R)
 * for backward, or null when it is not adapted.
 */
export function adaptedLinearForward<A extends FloatArray>(
  lin: ReferenceLinear<A>,
  x: A, // (T, IN)
  t: number,
  scale: number,
  xd: A = x, // (T, IN) what A multiplies
): { y: A; xa: A | null } {
  const y = linearForward(x, lin.w, t, lin.inFeatures, lin.outFeatures); // (T, OUT)
  if (lin.bias) biasAdd(y, lin.bias, t, lin.outFeatures); // y += b
  if (!lin.lora) return { y, xa: null };
  const { a, b, r } = lin.lora;
  const dims = { m: t, k: lin.inFeatures, n: lin.outFeatures, r };
  return { y, xa: loraForward(y, xd, a, b, scale, dims) };
}

/** y (T, OUT) += b (OUT) on every row. */
export function biasAdd(y: FloatArray, bias: FloatArray, t: number, out: number): void {
  for (let r = 0; r < t; r++) for (let c = 0; c < out; c++) y[r * out + c] += bias[c];
}
