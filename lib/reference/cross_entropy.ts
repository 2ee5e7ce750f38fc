/**
 * Reference causal-LM cross-entropy with Hugging Face's shift: the logits at position t
 * predict labels[t + 1], the last position predicts nothing, and label −100 is ignored.
 * The forward pass returns the sum of token losses and their count; the loss of an optimizer
 * step is the sum over all its micro-batches divided by the total count, so the backward pass
 * takes that 1 / total as `scale`.
 *
 * Dimensions: T tokens, V vocab.
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray, zerosLike } from "./_array.ts";

/** The label value that contributes no loss (PyTorch's `ignore_index`). */
export const IGNORE_INDEX = -100;

/** The target of position t, or −1 when it has none; validates the label. */
function targetAt(labels: ArrayLike<number>, t: number, v: number): number {
  if (t + 1 >= labels.length) return -1;
  const label = labels[t + 1];
  if (label === IGNORE_INDEX) return -1;
  if (!Number.isInteger(label) || label < 0 || label >= v) {
    throw new Error(`Label ${label} at index ${t + 1} is neither -100 nor in [0, ${v})`);
  }
  return label;
}

/** log Σ exp over one row of logits, computed stably. */
function logSumExp(logits: FloatArray, base: number, v: number): number {
  let max = -Infinity;
  for (let j = 0; j < v; j++) max = Math.max(max, logits[base + j]);
  let sum = 0;
  for (let j = 0; j < v; j++) sum += Math.exp(logits[base + j] - max);
  return max + Math.log(sum);
}

function checkShapes(logits: FloatArray, labels: ArrayLike<number>, t: number, v: number): void {
  checkDims({ T: t, V: v });
  checkLength("cross-entropy logits (T, V)", logits, t * v);
  checkLength("cross-entropy labels (T)", labels, t);
}

/**
 * The summed cross-entropy of the shifted labels and how many labels counted.
 *
 * @param logits (T, V)
 * @param labels (T), −100 for ignored positions
 */
export function crossEntropyForward(
  logits: FloatArray,
  labels: ArrayLike<number>,
  t: number,
  v: number,
): { lossSum: number; count: number } {
  checkShapes(logits, labels, t, v);
  let lossSum = 0;
  let count = 0;
  for (let i = 0; i < t; i++) {
    const target = targetAt(labels, i, v);
    if (target < 0) continue;
    lossSum += logSumExp(logits, i * v, v) - logits[i * v + target];
    count++;
  }
  return { lossSum, count };
}

/**
 * dlogits = scale · (softmax(logits) − onehot(target)) at positions with a target, else 0.
 *
 * @param logits (T, V)
 * @param labels (T), −100 for ignored positions
 * @param scale usually 1 / (label tokens of the whole optimizer step)
 * @returns dlogits (T, V)
 */
export function crossEntropyBackward<A extends FloatArray>(
  logits: A,
  labels: ArrayLike<number>,
  t: number,
  v: number,
  scale: number,
): A {
  checkShapes(logits, labels, t, v);
  const dlogits = zerosLike(logits, t * v); // (T, V)
  for (let i = 0; i < t; i++) {
    const target = targetAt(labels, i, v);
    if (target < 0) continue;
    const lse = logSumExp(logits, i * v, v);
    for (let j = 0; j < v; j++) dlogits[i * v + j] = scale * Math.exp(logits[i * v + j] - lse);
    dlogits[i * v + target] -= scale;
  }
  return dlogits;
}
