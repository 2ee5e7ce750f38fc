/**
 * Array helpers shared by the reference ops. Every op takes Float32Array or Float64Array
 * inputs and allocates its outputs like its first input, so the same loops run in f32 for the
 * oracle and in f64 for finite-difference checks. Loops accumulate in JavaScript numbers (f64).
 *
 * @module
 */

/** The array kinds the reference ops accept. */
export type FloatArray = Float32Array | Float64Array;

/** A zero-filled array of `n` elements of the same kind as `like`. */
export function zerosLike<A extends FloatArray>(like: A, n: number): A {
  return new (like.constructor as new (n: number) => A)(n);
}

/** Throws unless `array.length` is `expected`; `what` names the array and its shape. */
export function checkLength(what: string, array: ArrayLike<number>, expected: number): void {
  if (array.length !== expected) {
    throw new Error(`${what} has ${array.length} elements, expected ${expected}`);
  }
}

/** Throws unless every value is a positive integer; `dims` maps dimension names to values. */
export function checkDims(dims: Record<string, number>): void {
  for (const [name, value] of Object.entries(dims)) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new Error(`Dimension ${name} = ${value} must be a positive integer`);
    }
  }
}
