/**
 * Reference residual add. Its backward pass is the identity on both inputs: the gradient of
 * the residual stream flows unchanged into the branch and past it.
 *
 * @module
 */
import { checkLength, type FloatArray } from "./_array.ts";

/**
 * In place: x += y, element-wise, for arrays of any shape.
 *
 * @param x any shape, updated
 * @param y same shape as x
 */
export function residualAdd(x: FloatArray, y: ArrayLike<number>): void {
  checkLength("residualAdd y", y, x.length);
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}
