/**
 * Plain-loop matrix products, row-major, accumulating in f64 and storing like the first
 * operand. The letters name each operand's storage order: N as stored, T transposed.
 *
 * Dimensions: M rows of the result, N columns of the result, K the reduced dimension.
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray, zerosLike } from "./_array.ts";

/**
 * c = a·bᵀ, the layout of a linear layer's forward pass (x·Wᵀ).
 *
 * @param a (M, K)
 * @param b (N, K)
 * @returns (M, N)
 */
export function matmulNT<A extends FloatArray>(
  a: A,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
): A {
  checkDims({ M: m, K: k, N: n });
  checkLength("matmulNT a (M, K)", a, m * k);
  checkLength("matmulNT b (N, K)", b, n * k);
  const c = zerosLike(a, m * n); // (M, N)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[j * k + p];
      c[i * n + j] = sum;
    }
  }
  return c;
}

/**
 * c = a·b, the layout of a linear layer's input gradient (dy·W).
 *
 * @param a (M, K)
 * @param b (K, N)
 * @returns (M, N)
 */
export function matmulNN<A extends FloatArray>(
  a: A,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
): A {
  checkDims({ M: m, K: k, N: n });
  checkLength("matmulNN a (M, K)", a, m * k);
  checkLength("matmulNN b (K, N)", b, k * n);
  const c = zerosLike(a, m * n); // (M, N)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
      c[i * n + j] = sum;
    }
  }
  return c;
}

/**
 * c = aᵀ·b, the layout of a weight gradient (dyᵀ·x).
 *
 * @param a (K, M)
 * @param b (K, N)
 * @returns (M, N)
 */
export function matmulTN<A extends FloatArray>(
  a: A,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
): A {
  checkDims({ M: m, K: k, N: n });
  checkLength("matmulTN a (K, M)", a, k * m);
  checkLength("matmulTN b (K, N)", b, k * n);
  const c = zerosLike(a, m * n); // (M, N)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[p * m + i] * b[p * n + j];
      c[i * n + j] = sum;
    }
  }
  return c;
}
