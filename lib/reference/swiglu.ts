/**
 * Reference SwiGLU gate of the Llama MLP: h = silu(g) · u with silu(g) = g · sigmoid(g).
 *
 * Dimensions: N rows (tokens), I intermediate.
 *
 * @module
 */
import { checkLength, type FloatArray, zerosLike } from "./_array.ts";

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * h = silu(g) · u, element-wise.
 *
 * @param g (N, I) the gate projection
 * @param u (N, I) the up projection
 * @returns h (N, I)
 */
export function swigluForward<A extends FloatArray>(g: A, u: FloatArray): A {
  checkLength("swiglu u (N, I)", u, g.length);
  const h = zerosLike(g, g.length); // (N, I)
  for (let i = 0; i < g.length; i++) h[i] = g[i] * sigmoid(g[i]) * u[i];
  return h;
}

/**
 * dg = dh · u · σ(g)(1 + g(1 − σ(g))), du = dh · silu(g).
 *
 * @param dh (N, I)
 * @param g (N, I) the forward gate input
 * @param u (N, I) the forward up input
 * @returns dg (N, I) and du (N, I)
 */
export function swigluBackward<A extends FloatArray>(
  dh: A,
  g: FloatArray,
  u: FloatArray,
): { dg: A; du: A } {
  checkLength("swiglu g (N, I)", g, dh.length);
  checkLength("swiglu u (N, I)", u, dh.length);
  const dg = zerosLike(dh, dh.length); // (N, I)
  const du = zerosLike(dh, dh.length); // (N, I)
  for (let i = 0; i < dh.length; i++) {
    const s = sigmoid(g[i]);
    dg[i] = dh[i] * u[i] * s * (1 + g[i] * (1 - s));
    du[i] = dh[i] * g[i] * s;
  }
  return { dg, du };
}
