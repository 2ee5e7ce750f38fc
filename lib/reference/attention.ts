/**
 * Reference causal grouped-query attention, softmax(q·kᵀ/√HD)·v per head. The query at index
 * t sits at absolute position offset + t and sees keys 0..offset+t, so offset > 0 is the
 * KV-cache decode case. Query head h reads kv head ⌊h / (H/KV)⌋ (K and V repeated per group,
 * as Hugging Face's `repeat_kv`).
 *
 * Dimensions: T queries, TK keys (= offset + T), H query heads, KV kv heads, HD head dim.
 *
 * @module
 */
import { checkDims, checkLength, type FloatArray, zerosLike } from "./_array.ts";

/** Sizes of one attention call. */
export interface AttentionDims {
  /** T, the number of queries. */
  t: number;
  /** H, the number of query heads (a multiple of kv). */
  h: number;
  /** KV, the number of key/value heads. */
  kv: number;
  /** HD, the head dimension. */
  hd: number;
  /** Absolute position of the first query; the keys number offset + T. */
  offset: number;
}

/** The output of {@linkcode attentionForward}. */
export interface AttentionOutput<A extends FloatArray> {
  /** The attended values. (T, H·HD) */
  out: A;
  /** The softmax probabilities, zero above the causal diagonal, kept for backward. (H, T, TK) */
  probs: A;
}

/** Validates the dimensions and the q, k, v lengths; returns TK. */
function checkShapes(
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  { t, h, kv, hd, offset }: AttentionDims,
): number {
  checkDims({ T: t, H: h, KV: kv, HD: hd });
  if (h % kv !== 0) throw new Error(`Query heads ${h} are not a multiple of kv heads ${kv}`);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new Error(`Attention offset ${offset} must be a non-negative integer`);
  }
  const tk = offset + t;
  checkLength("attention q (T, H·HD)", q, t * h * hd);
  checkLength("attention k (TK, KV·HD)", k, tk * kv * hd);
  checkLength("attention v (TK, KV·HD)", v, tk * kv * hd);
  return tk;
}

/**
 * out = softmax(q·kᵀ/√HD + causal mask)·v, per query head.
 *
 * @param q (T, H·HD), already rotated
 * @param k (TK, KV·HD), already rotated
 * @param v (TK, KV·HD)
 */
export function attentionForward<A extends FloatArray>(
  q: A,
  k: FloatArray,
  v: FloatArray,
  dims: AttentionDims,
): AttentionOutput<A> {
  const tk = checkShapes(q, k, v, dims);
  const { t, h, kv, hd, offset } = dims;
  const group = h / kv;
  const scale = 1 / Math.sqrt(hd);
  const out = zerosLike(q, t * h * hd); // (T, H·HD)
  const probs = zerosLike(q, h * t * tk); // (H, T, TK)
  const scores = new Float64Array(tk); // (TK) one row of q·kᵀ
  for (let head = 0; head < h; head++) {
    const kvHead = Math.floor(head / group);
    for (let i = 0; i < t; i++) {
      const last = offset + i; // the last visible key
      const qBase = (i * h + head) * hd;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        const kBase = (j * kv + kvHead) * hd;
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += q[qBase + d] * k[kBase + d];
        scores[j] = dot * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        scores[j] = Math.exp(scores[j] - max);
        sum += scores[j];
      }
      const pBase = (head * t + i) * tk;
      for (let j = 0; j <= last; j++) {
        const p = scores[j] / sum;
        probs[pBase + j] = p;
        const vBase = (j * kv + kvHead) * hd;
        for (let d = 0; d < hd; d++) out[qBase + d] += p * v[vBase + d];
      }
    }
  }
  return { out, probs };
}

/**
 * The gradients of q, k and v from the gradient of the output. Gradients of the kv heads sum
 * over the query heads of their group.
 *
 * @param dout (T, H·HD)
 * @param q (T, H·HD) the forward input
 * @param k (TK, KV·HD) the forward input
 * @param v (TK, KV·HD) the forward input
 * @param probs (H, T, TK) from the forward pass
 * @returns dq (T, H·HD), dk (TK, KV·HD), dv (TK, KV·HD)
 */
export function attentionBackward<A extends FloatArray>(
  dout: A,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  probs: FloatArray,
  dims: AttentionDims,
): { dq: A; dk: A; dv: A } {
  const tk = checkShapes(q, k, v, dims);
  const { t, h, kv, hd, offset } = dims;
  checkLength("attention dout (T, H·HD)", dout, t * h * hd);
  checkLength("attention probs (H, T, TK)", probs, h * t * tk);
  const group = h / kv;
  const scale = 1 / Math.sqrt(hd);
  const dq = zerosLike(dout, t * h * hd); // (T, H·HD)
  const dk = zerosLike(dout, tk * kv * hd); // (TK, KV·HD)
  const dv = zerosLike(dout, tk * kv * hd); // (TK, KV·HD)
  const dp = new Float64Array(tk); // (TK) gradient of one row of probs
  for (let head = 0; head < h; head++) {
    const kvHead = Math.floor(head / group);
    for (let i = 0; i < t; i++) {
      const last = offset + i;
      const qBase = (i * h + head) * hd;
      const pBase = (head * t + i) * tk;
      let dot = 0; // Σ_j p_j · dp_j
      for (let j = 0; j <= last; j++) {
        const vBase = (j * kv + kvHead) * hd;
        const p = probs[pBase + j];
        let g = 0;
        for (let d = 0; d < hd; d++) {
          g += dout[qBase + d] * v[vBase + d];
          dv[vBase + d] += p * dout[qBase + d];
        }
        dp[j] = g;
        dot += p * g;
      }
      for (let j = 0; j <= last; j++) {
        const ds = probs[pBase + j] * (dp[j] - dot) * scale; // gradient of q·k before scaling
        const kBase = (j * kv + kvHead) * hd;
        for (let d = 0; d < hd; d++) {
          dq[qBase + d] += ds * k[kBase + d];
          dk[kBase + d] += ds * q[qBase + d];
        }
      }
    }
  }
  return { dq, dk, dv };
}
