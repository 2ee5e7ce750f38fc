/**
 * Reference rotary position embedding, applied in place with the rotate-half convention:
 * element i of each head pairs with element i + HD/2 and both rotate by angle position·f_i.
 * The backward pass is the rotation by the negative angle (rotations are orthogonal).
 *
 * Dimensions: T tokens, NH heads of the tensor (H for q, KV for k), HD head dim,
 * P positions in the tables (at least offset + T).
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray } from "./_array.ts";

/**
 * Rotates every head of x by its position's angles; `direction` −1 rotates backwards.
 *
 * @param x (T, NH, HD), updated in place
 * @param cos (P, HD/2) from `ropeTables`
 * @param sin (P, HD/2) from `ropeTables`
 */
function rotate(
  x: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  t: number,
  nh: number,
  hd: number,
  offset: number,
  direction: 1 | -1,
): void {
  checkDims({ T: t, NH: nh, HD: hd });
  if (hd % 2 !== 0) throw new Error(`Head dimension ${hd} must be even`);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new Error(`Position offset ${offset} must be a non-negative integer`);
  }
  checkLength("rope x (T, NH, HD)", x, t * nh * hd);
  const half = hd / 2;
  checkLength("rope sin (P, HD/2)", sin, cos.length);
  if (cos.length % half !== 0 || cos.length / half < offset + t) {
    throw new Error(
      `Rope tables of ${cos.length} elements do not cover positions up to ${offset + t - 1} ` +
        `at HD/2 = ${half}`,
    );
  }
  for (let i = 0; i < t; i++) {
    const row = (offset + i) * half;
    for (let h = 0; h < nh; h++) {
      const base = (i * nh + h) * hd;
      for (let j = 0; j < half; j++) {
        const c = cos[row + j], s = direction * sin[row + j];
        const a = x[base + j], b = x[base + j + half];
        x[base + j] = a * c - b * s;
        x[base + j + half] = b * c + a * s;
      }
    }
  }
}

/**
 * In place: rotates x (q or k) for positions offset..offset+T−1.
 *
 * @param x (T, NH, HD)
 * @param cos (P, HD/2)
 * @param sin (P, HD/2)
 */
export function ropeForward(
  x: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  t: number,
  nh: number,
  hd: number,
  offset: number,
): void {
  rotate(x, cos, sin, t, nh, hd, offset, 1);
}

/**
 * In place: turns the gradient with respect to the rotated x into the gradient with respect to
 * the unrotated x, by rotating through the negative angles.
 *
 * @param dx (T, NH, HD)
 * @param cos (P, HD/2)
 * @param sin (P, HD/2)
 */
export function ropeBackward(
  dx: FloatArray,
  cos: FloatArray,
  sin: FloatArray,
  t: number,
  nh: number,
  hd: number,
  offset: number,
): void {
  rotate(dx, cos, sin, t, nh, hd, offset, -1);
}
