/**
 * Reference log-probabilities: the log-softmax of a row of logits, and the k most likely ids
 * (descending logprob, lowest id first on ties), computed in f64 with plain loops.
 *
 * Dimensions: V vocab.
 *
 * @module
 */
import type { FloatArray } from "./_array.ts";
import type { TokenLogprob } from "../ops/logprobs.ts";

/** log_softmax(logits) (V), in f64. */
export function logSoftmax(logits: FloatArray): Float64Array {
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (l) => l - lse);
}

/** The logprob of `target` and the `k` largest logprobs of `logits` (V). */
export function tokenLogprob(logits: FloatArray, target: number, k: number): TokenLogprob {
  const lp = logSoftmax(logits);
  const order = Array.from(lp.keys()).sort((a, b) => lp[b] - lp[a] || a - b);
  return {
    logprob: lp[target],
    top: order.slice(0, k).map((id) => ({ id, logprob: lp[id] })),
  };
}
