/**
 * Reference LoRA branch of a frozen linear layer (PEFT, no dropout): y += s·B·(A·x), with
 * s = alpha/r, or alpha/√r for rsLoRA. A and B are the trainable matrices.
 *
 * Dimensions: M rows (tokens), K input features, N output features, R rank.
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray } from "./_array.ts";
import { matmulNN, matmulNT, matmulTN } from "./matmul.ts";
import { residualAdd } from "./residual.ts";

/** Sizes of one LoRA-adapted linear layer. */
export interface LoraDims {
  /** M, the number of rows (tokens). */
  m: number;
  /** K, the input features. */
  k: number;
  /** N, the output features. */
  n: number;
  /** R, the rank. */
  r: number;
}

/** The LoRA scale: alpha / r, or alpha / √r with rsLoRA. */
export function loraScale(alpha: number, r: number, useRslora: boolean): number {
  if (!Number.isInteger(r) || r <= 0) throw new Error(`LoRA rank ${r} must be a positive integer`);
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/**
 * In place: y += s·(x·Aᵀ)·Bᵀ. Returns x·Aᵀ, which the backward pass needs.
 *
 * @param y (M, N) the base layer's output, updated
 * @param x (M, K)
 * @param a (R, K) lora_A
 * @param b (N, R) lora_B
 * @returns xa (M, R)
 */
export function loraForward<A extends FloatArray>(
  y: FloatArray,
  x: A,
  a: FloatArray,
  b: FloatArray,
  s: number,
  { m, k, n, r }: LoraDims,
): A {
  checkDims({ M: m, K: k, N: n, R: r });
  checkLength("lora y (M, N)", y, m * n);
  const xa = matmulNT(x, a, m, k, r); // (M, R)
  const branch = matmulNT(xa, b, m, r, n); // (M, N)
  for (let i = 0; i < branch.length; i++) branch[i] *= s;
  residualAdd(y, branch);
  return xa;
}

/**
 * The gradients of A and B from the gradient of y; adds the branch's share of dx into dx.
 *
 * @param dy (M, N)
 * @param x (M, K) the forward input
 * @param xa (M, R) from the forward pass
 * @param a (R, K) lora_A
 * @param b (N, R) lora_B
 * @param dx (M, K), updated
 * @returns dA (R, K) and dB (N, R)
 */
export function loraBackward<A extends FloatArray>(
  dy: A,
  x: FloatArray,
  xa: FloatArray,
  a: FloatArray,
  b: FloatArray,
  s: number,
  dx: FloatArray,
  { m, k, n, r }: LoraDims,
): { dA: A; dB: A } {
  checkDims({ M: m, K: k, N: n, R: r });
  checkLength("lora dx (M, K)", dx, m * k);
  const dB = matmulTN(dy, xa, n, m, r); // (N, R) = dyᵀ·xa
  for (let i = 0; i < dB.length; i++) dB[i] *= s;
  const dxa = matmulNN(dy, b, m, n, r); // (M, R) = dy·B
  for (let i = 0; i < dxa.length; i++) dxa[i] *= s;
  const dA = matmulTN(dxa, x, r, m, k); // (R, K) = dxaᵀ·x
  residualAdd(dx, matmulNN(dxa, a, m, r, k)); // (M, K) += dxa·A
  return { dA, dB };
}
