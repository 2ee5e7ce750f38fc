/**
 * Reference linear layer without bias, as in Llama: y = x·Wᵀ with W stored (N, K) like
 * PyTorch's `nn.Linear.weight`. Base weights are frozen, so the backward pass gives only dx;
 * LoRA's trainable matrices have their own backward in `lora.ts`.
 *
 * Dimensions: M rows (tokens), K input features, N output features.
 *
 * @module
 */
import type { FloatArray } from "./_array.ts";
import { matmulNN, matmulNT } from "./matmul.ts";

/**
 * y = x·Wᵀ.
 *
 * @param x (M, K)
 * @param w (N, K)
 * @returns y (M, N)
 */
export function linearForward<A extends FloatArray>(
  x: A,
  w: FloatArray,
  m: number,
  k: number,
  n: number,
): A {
  return matmulNT(x, w, m, k, n);
}

/**
 * dx = dy·W.
 *
 * @param dy (M, N)
 * @param w (N, K)
 * @returns dx (M, K)
 */
export function linearBackward<A extends FloatArray>(
  dy: A,
  w: FloatArray,
  m: number,
  k: number,
  n: number,
): A {
  return matmulNN(dy, w, m, n, k);
}
