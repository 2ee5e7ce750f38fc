/**
 * Plain-loop matrix products, row-major, accumulating in f64 and storing like the first
 * operand. The letters name each operand's storage order: N as stored, T transposed.
 *
 * Dimensions: M rows of the result, N columns of the result, K the reduced dimension.
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray, zerosLike } from "./_array.ts";

/** Element strides of an operand: element (row r, reduced index p) is at r·rowStride + p·kStride. */
interface Strides {
  row: number;
  k: number;
}

/** c(M, N) = Σ_p a(i, p)·b(j, p) for operands laid out by `as` and `bs`. */
function product<A extends FloatArray>(
  name: string,
  a: A,
  b: FloatArray,
  [m, k, n]: [number, number, number],
  as: Strides,
  bs: Strides,
  shapes: [string, string],
): A {
  checkDims({ M: m, K: k, N: n });
  checkLength(`${name} a ${shapes[0]}`, a, m * k);
  checkLength(`${name} b ${shapes[1]}`, b, k * n);
  const c = zerosLike(a, m * n); // (M, N)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * as.row + p * as.k] * b[j * bs.row + p * bs.k];
      c[i * n + j] = sum;
    }
  }
  return c;
}

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
  return product("matmulNT", a, b, [m, k, n], { row: k, k: 1 }, { row: k, k: 1 }, [
    "(M, K)",
    "(N, K)",
  ]);
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
  return product("matmulNN", a, b, [m, k, n], { row: k, k: 1 }, { row: 1, k: n }, [
    "(M, K)",
    "(K, N)",
  ]);
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
  return product("matmulTN", a, b, [m, k, n], { row: 1, k: m }, { row: 1, k: n }, [
    "(K, M)",
    "(K, N)",
  ]);
}
