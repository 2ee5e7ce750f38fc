/**
 * Reference RMSNorm, Hugging Face Llama semantics: y = x · rsqrt(mean(x²) + eps) · w.
 * The weight is frozen, so the backward pass gives only dx; it reuses the per-row rstd saved
 * by the forward pass.
 *
 * Dimensions: N rows (tokens), C channels (hidden).
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray, zerosLike } from "./_array.ts";

/** The output of {@linkcode rmsnormForward}. */
export interface RmsnormOutput<A extends FloatArray> {
  /** The normalised, weighted rows. (N, C) */
  y: A;
  /** Per row, 1 / sqrt(mean(x²) + eps). (N) */
  rstd: A;
}

/**
 * y = x · rstd · w, per row.
 *
 * @param x (N, C)
 * @param w (C)
 */
export function rmsnormForward<A extends FloatArray>(
  x: A,
  w: FloatArray,
  n: number,
  c: number,
  eps: number,
): RmsnormOutput<A> {
  checkDims({ N: n, C: c });
  checkLength("rmsnorm x (N, C)", x, n * c);
  checkLength("rmsnorm w (C)", w, c);
  const y = zerosLike(x, n * c); // (N, C)
  const rstd = zerosLike(x, n); // (N)
  for (let i = 0; i < n; i++) {
    let sumSq = 0;
    for (let j = 0; j < c; j++) sumSq += x[i * c + j] ** 2;
    const r = 1 / Math.sqrt(sumSq / c + eps);
    rstd[i] = r;
    for (let j = 0; j < c; j++) y[i * c + j] = x[i * c + j] * r * w[j];
  }
  return { y, rstd };
}

/**
 * dx = rstd · (w·dy − x · rstd² · mean(x · w·dy)), per row.
 *
 * @param dy (N, C)
 * @param x (N, C) the forward input
 * @param w (C)
 * @param rstd (N) from the forward pass
 * @returns dx (N, C)
 */
export function rmsnormBackward<A extends FloatArray>(
  dy: A,
  x: FloatArray,
  w: FloatArray,
  rstd: FloatArray,
  n: number,
  c: number,
): A {
  checkDims({ N: n, C: c });
  checkLength("rmsnorm dy (N, C)", dy, n * c);
  checkLength("rmsnorm x (N, C)", x, n * c);
  checkLength("rmsnorm w (C)", w, c);
  checkLength("rmsnorm rstd (N)", rstd, n);
  const dx = zerosLike(dy, n * c); // (N, C)
  for (let i = 0; i < n; i++) {
    const r = rstd[i];
    let dot = 0; // Σ_j x·w·dy
    for (let j = 0; j < c; j++) dot += x[i * c + j] * w[j] * dy[i * c + j];
    const k = (r * r * r * dot) / c;
    for (let j = 0; j < c; j++) dx[i * c + j] = r * w[j] * dy[i * c + j] - k * x[i * c + j];
  }
  return dx;
}
