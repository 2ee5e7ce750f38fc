/**
 * Reference token embedding gather. No backward pass: the embedding table is frozen (LoRA
 * does not adapt it), and nothing upstream of it needs a gradient.
 *
 * Dimensions: T tokens, V vocab, D hidden.
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray, zerosLike } from "./_array.ts";

/**
 * x[t] = table[ids[t]].
 *
 * @param table (V, D)
 * @param ids (T) token ids in [0, V)
 * @returns x (T, D)
 */
export function embeddingForward<A extends FloatArray>(
  table: A,
  ids: ArrayLike<number>,
  v: number,
  d: number,
): A {
  checkDims({ V: v, D: d });
  checkLength("embedding table (V, D)", table, v * d);
  const x = zerosLike(table, ids.length * d); // (T, D)
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (!Number.isInteger(id) || id < 0 || id >= v) {
      throw new Error(`Token id ${id} at index ${t} is outside the vocabulary [0, ${v})`);
    }
    x.set(table.subarray(id * d, (id + 1) * d), t * d);
  }
  return x;
}
