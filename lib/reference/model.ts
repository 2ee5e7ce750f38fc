/**
 * The reference model (Hugging Face `LlamaForCausalLM` semantics, with the biases of Qwen2 and
 * the per-head q/k norms of Qwen3 where the config has them) with unmerged PEFT LoRA:
 * logits, and the loss and LoRA gradients of a batch. It chains the plain-loop reference ops,
 * one record at a time (no padding), with a flat forward and a mirror-image backward.
 *
 * Layer: x += o(attn(rope(q(n1)), rope(k(n1)), v(n1))) with n1 = rmsnorm(x) (Qwen3: q and k
 *        each normed per head before RoPE; Qwen2: q, k and v with a bias);
 *        x += down(silu(gate(n2)) · up(n2))           with n2 = rmsnorm(x);
 * then logits = rmsnorm(x)·lm_headᵀ. Base weights and embeddings are frozen; only the LoRA
 * matrices get gradients. Each adapted projection is y = W·x + s·B·A·dropout(x), as in PEFT;
 * in training, dropout is a caller-given fixed mask per (record, layer, projection), and none
 * by default.
 *
 * Dimensions: T tokens, D hidden, I intermediate, H heads, KV kv heads, HD head dim, V vocab,
 * R lora rank.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import type { Projection } from "../model/names.ts";
import { ropeTables } from "../model/rope_frequencies.ts";
import { type FloatArray, zerosLike } from "./_array.ts";
import { attentionBackward, type AttentionDims, attentionForward } from "./attention.ts";
import { crossEntropyBackward, crossEntropyForward } from "./cross_entropy.ts";
import { embeddingForward } from "./embedding.ts";
import { linearBackward, linearForward } from "./linear.ts";
import {
  type ReferenceLinear,
  type ReferenceLora,
  type ReferenceModel,
  type ReferenceWeights,
  resolveReferenceModel,
} from "./model_weights.ts";
import { loraBackward } from "./lora.ts";
import { adaptedLinearForward } from "./adapted_linear.ts";
import { residualAdd } from "./residual.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { ropeBackward, ropeForward } from "./rope.ts";
import { swigluBackward, swigluForward } from "./swiglu.ts";

export type { ReferenceLora, ReferenceWeights } from "./model_weights.ts";

/** One training record: token ids and labels of the same length, −100 for ignored labels. */
export interface ReferenceRecord {
  /** (T) token ids. */
  inputIds: number[];
  /** (T) labels; the logits at t predict labels[t + 1]. */
  labels: number[];
}

/** Where a LoRA branch's input is: record of the batch, layer, projection. */
export interface LoraDropoutSite {
  /** Index of the record in the batch. */
  record: number;
  /** Decoder layer. */
  layer: number;
  /** The adapted projection. */
  projection: Projection;
}

/**
 * LoRA dropout as a fixed elementwise mask: returns dropout(x) = x ⊙ m for the (T, IN) input
 * `x` of the LoRA branch at `site`, where m (0, or the kept scale 1/(1 − p)) depends only on
 * the site and the element, never on x. The backward pass applies it again, to the gradient of
 * the branch's input, so it must give the same mask on every call.
 */
export type LoraDropout<A extends FloatArray> = (x: A, site: LoraDropoutSite) => A;

/** The result of {@linkcode referenceLossAndGrads}. */
export interface ReferenceLossAndGrads<A extends FloatArray> {
  /** The mean cross-entropy over all label tokens of the batch. */
  loss: number;
  /** The number of label tokens of the batch. */
  labelTokens: number;
  /** The gradient of `loss` for every adapter matrix, by PEFT key, shaped like the matrix. */
  grads: Map<string, A>;
}

/** What one layer's forward pass keeps for the backward pass (one record of T tokens). */
interface LayerActivations<A extends FloatArray> {
  xIn: A; // (T, D) residual stream entering the layer
  rstd1: A; // (T)
  qk: HeadNorms<A> | null; // q and k before their per-head norms (Qwen3), or null
  q: A; // (T, H·HD) rotated queries
  k: A; // (T, KV·HD) rotated keys
  v: A; // (T, KV·HD)
  probs: A; // (H, T, T)
  xMid: A; // (T, D) residual stream after attention
  rstd2: A; // (T)
  g: A; // (T, I) gate projection
  u: A; // (T, I) up projection
  branches: Branches<A>; // inputs of the adapted projections, as their LoRA branches saw them
}

/** What the per-head q/k norms (Qwen3) keep for backward. */
interface HeadNorms<A extends FloatArray> {
  qPre: A; // (T, H·HD) the q projection, before its norm
  kPre: A; // (T, KV·HD) the k projection, before its norm
  rstdQ: A; // (T·H)
  rstdK: A; // (T·KV)
}

/** The LoRA branches of one layer of one record: their scale, dropout and saved values. */
interface Branches<A extends FloatArray> {
  /** s in y += s·B·(A·dropout(x)). */
  scale: number;
  /** dropout(x) of the projection's (T, IN) input; the identity without dropout. */
  dropout: (x: A, projection: Projection) => A;
  /** Per adapted projection: xd = dropout(x) (T, IN) and xa = xd·Aᵀ (T, R). */
  saved: Map<Projection, { xd: A; xa: A }>;
}

/** What the whole forward pass keeps. */
interface Activations<A extends FloatArray> {
  layers: LayerActivations<A>[];
  xOut: A; // (T, D) residual stream after the last layer
  nf: A; // (T, D) final norm output
  rstdF: A; // (T)
  logits: A; // (T, V)
}

/** RoPE tables (P, HD/2) covering P positions. */
type Tables = { cos: Float32Array; sin: Float32Array };

/** y = x·Wᵀ (+ s·B·(A·dropout(x))); saves dropout(x) and its product with Aᵀ for backward. */
function project<A extends FloatArray>(
  lin: ReferenceLinear<A>,
  x: A, // (T, IN)
  t: number,
  branches: Branches<A>,
  name: Projection,
): A {
  const xd = lin.lora ? branches.dropout(x, name) : x; // (T, IN)
  const { y, xa } = adaptedLinearForward(lin, x, t, branches.scale, xd); // (T, OUT)
  if (xa) branches.saved.set(name, { xd, xa });
  return y;
}

/** dx of one projection; accumulates dA and dB into `grads`. */
function projectBackward<A extends FloatArray>(
  lin: ReferenceLinear<A>,
  dy: A, // (T, OUT)
  t: number,
  branches: Branches<A>,
  name: Projection,
  grads: Map<string, A>,
): A {
  const dx = linearBackward(dy, lin.w, t, lin.inFeatures, lin.outFeatures); // (T, IN)
  if (lin.lora) {
    const { a, b, r, keyA, keyB } = lin.lora;
    const dims = { m: t, k: lin.inFeatures, n: lin.outFeatures, r };
    const { xd, xa } = branches.saved.get(name)!;
    const dxd = zerosLike(dx, dx.length); // (T, IN) d dropout(x)
    const { dA, dB } = loraBackward(dy, xd, xa, a, b, branches.scale, dxd, dims);
    residualAdd(dx, branches.dropout(dxd, name)); // dx += m ⊙ d dropout(x)
    residualAdd(grads.get(keyA)!, dA);
    residualAdd(grads.get(keyB)!, dB);
  }
  return dx;
}

/**
 * The forward pass of record `record`, keeping every activation the backward pass needs.
 * `dropout` (none by default) masks the input of every LoRA branch.
 */
function forward<A extends FloatArray>(
  config: ModelConfig,
  model: ReferenceModel<A>,
  ids: number[],
  tables: Tables,
  record = 0,
  dropout?: LoraDropout<A>,
): Activations<A> {
  const { hiddenSize: d, numHeads: h, numKvHeads: kv, headDim: hd, rmsNormEps: eps } = config;
  const t = ids.length;
  const { cos, sin } = tables;
  const attnDims: AttentionDims = { t, h, kv, hd, offset: 0 };
  const x = embeddingForward(model.embed, ids, config.vocabSize, d); // (T, D) residual stream
  const layers: LayerActivations<A>[] = [];
  for (const [l, layer] of model.layers.entries()) {
    const p = layer.proj;
    const br: Branches<A> = {
      scale: model.loraScale,
      dropout: (input, projection) =>
        dropout ? dropout(input, { record, layer: l, projection }) : input,
      saved: new Map(),
    };
    const xIn = x.slice() as A; // (T, D) the layer input, kept for backward
    const { y: n1, rstd: rstd1 } = rmsnormForward(x, layer.attnNorm, t, d, eps); // (T, D)
    let q = project(p.q_proj, n1, t, br, "q_proj"); // (T, H·HD)
    let k = project(p.k_proj, n1, t, br, "k_proj"); // (T, KV·HD)
    const v = project(p.v_proj, n1, t, br, "v_proj"); // (T, KV·HD)
    let qk: HeadNorms<A> | null = null;
    if (layer.qNorm && layer.kNorm) {
      const nq = rmsnormForward(q, layer.qNorm, t * h, hd, eps); // each head of q: (T·H, HD)
      const nk = rmsnormForward(k, layer.kNorm, t * kv, hd, eps); // each head of k: (T·KV, HD)
      qk = { qPre: q, kPre: k, rstdQ: nq.rstd, rstdK: nk.rstd };
      q = nq.y;
      k = nk.y;
    }
    ropeForward(q, cos, sin, t, h, hd, 0); // rotate queries in place
    ropeForward(k, cos, sin, t, kv, hd, 0); // rotate keys in place
    const { out: att, probs } = attentionForward(q, k, v, attnDims); // (T, H·HD), (H, T, T)
    residualAdd(x, project(p.o_proj, att, t, br, "o_proj")); // x += o(att)
    const xMid = x.slice() as A; // (T, D)
    const { y: n2, rstd: rstd2 } = rmsnormForward(x, layer.mlpNorm, t, d, eps); // (T, D)
    const g = project(p.gate_proj, n2, t, br, "gate_proj"); // (T, I)
    const u = project(p.up_proj, n2, t, br, "up_proj"); // (T, I)
    const hAct = swigluForward(g, u); // (T, I)
    residualAdd(x, project(p.down_proj, hAct, t, br, "down_proj")); // x += down(h)
    layers.push({ xIn, rstd1, qk, q, k, v, probs, xMid, rstd2, g, u, branches: br });
  }
  const { y: nf, rstd: rstdF } = rmsnormForward(x, model.norm, t, d, eps); // (T, D)
  const logits = linearForward(nf, model.lmHead, t, d, config.vocabSize); // (T, V)
  return { layers, xOut: x, nf, rstdF, logits };
}

/**
 * The backward pass of one record from dlogits: the forward calls in reverse. Accumulates the
 * LoRA gradients into `grads`. The stream gradient left at the embeddings is dropped (frozen).
 */
function backward<A extends FloatArray>(
  config: ModelConfig,
  model: ReferenceModel<A>,
  t: number,
  tables: Tables,
  acts: Activations<A>,
  dlogits: A, // (T, V)
  grads: Map<string, A>,
): void {
  const { hiddenSize: d, numHeads: h, numKvHeads: kv, headDim: hd } = config;
  const { cos, sin } = tables;
  const attnDims: AttentionDims = { t, h, kv, hd, offset: 0 };
  const dnf = linearBackward(dlogits, model.lmHead, t, d, config.vocabSize); // (T, D)
  const dx = rmsnormBackward(dnf, acts.xOut, model.norm, acts.rstdF, t, d); // (T, D) d stream
  for (let l = model.layers.length - 1; l >= 0; l--) {
    const layer = model.layers[l], p = layer.proj, a = acts.layers[l], br = a.branches;
    // MLP block, reversed: x += down(silu(gate(n2)) · up(n2)).
    const dh = projectBackward(p.down_proj, dx, t, br, "down_proj", grads); // (T, I)
    const { dg, du } = swigluBackward(dh, a.g, a.u); // (T, I) each
    const dn2 = projectBackward(p.gate_proj, dg, t, br, "gate_proj", grads); // (T, D)
    residualAdd(dn2, projectBackward(p.up_proj, du, t, br, "up_proj", grads));
    residualAdd(dx, rmsnormBackward(dn2, a.xMid, layer.mlpNorm, a.rstd2, t, d)); // (T, D)
    // Attention block, reversed: x += o(attn(rope(q(n1)), rope(k(n1)), v(n1))).
    const datt = projectBackward(p.o_proj, dx, t, br, "o_proj", grads); // (T, H·HD)
    const { dq, dk, dv } = attentionBackward(datt, a.q, a.k, a.v, a.probs, attnDims);
    ropeBackward(dq, cos, sin, t, h, hd, 0); // (T, H·HD)
    ropeBackward(dk, cos, sin, t, kv, hd, 0); // (T, KV·HD)
    const qk = a.qk, qn = layer.qNorm!, kn = layer.kNorm!; // per-head norms' backward (Qwen3)
    const dqPre = qk ? rmsnormBackward(dq, qk.qPre, qn, qk.rstdQ, t * h, hd) : dq; // (T, H·HD)
    const dkPre = qk ? rmsnormBackward(dk, qk.kPre, kn, qk.rstdK, t * kv, hd) : dk; // (T, KV·HD)
    const dn1 = projectBackward(p.q_proj, dqPre, t, br, "q_proj", grads); // (T, D)
    residualAdd(dn1, projectBackward(p.k_proj, dkPre, t, br, "k_proj", grads));
    residualAdd(dn1, projectBackward(p.v_proj, dv, t, br, "v_proj", grads));
    residualAdd(dx, rmsnormBackward(dn1, a.xIn, layer.attnNorm, a.rstd1, t, d)); // (T, D)
  }
}

/**
 * The logits of a token sequence, with the adapter applied unmerged when given.
 *
 * @param ids (T) token ids
 * @returns logits (T, V)
 */
export function referenceLogits<A extends FloatArray = Float32Array>(
  config: ModelConfig,
  weights: ReferenceWeights<A>,
  ids: number[],
  lora?: ReferenceLora<A>,
): A {
  if (ids.length === 0) throw new Error("Token sequence is empty");
  const model = resolveReferenceModel(config, weights, lora);
  return forward(config, model, ids, ropeTables(config, ids.length)).logits;
}

/**
 * The loss of a batch and its gradient for every adapter matrix. The loss is the sum of the
 * token cross-entropies of all records divided by the batch's label-token count (HF shift:
 * logits at t predict labels[t + 1]); records are run one at a time, unpadded. With `dropout`,
 * every LoRA branch's input is masked by it (training); without, no dropout.
 */
export function referenceLossAndGrads<A extends FloatArray = Float32Array>(
  config: ModelConfig,
  weights: ReferenceWeights<A>,
  batch: ReferenceRecord[],
  lora: ReferenceLora<A>,
  dropout?: LoraDropout<A>,
): ReferenceLossAndGrads<A> {
  const model = resolveReferenceModel(config, weights, lora);
  batch.forEach(({ inputIds, labels }, i) => {
    if (inputIds.length === 0 || inputIds.length !== labels.length) {
      throw new Error(
        `Record ${i} has ${inputIds.length} input ids and ${labels.length} labels: ` +
          `expected the same non-zero length`,
      );
    }
  });
  const v = config.vocabSize;
  const tables = ropeTables(config, Math.max(...batch.map((r) => r.inputIds.length)));
  // Forward every record first: the gradient scale needs the whole batch's label count.
  const acts = batch.map((r, i) => forward(config, model, r.inputIds, tables, i, dropout));
  let lossSum = 0, labelTokens = 0;
  batch.forEach((r, i) => {
    const ce = crossEntropyForward(acts[i].logits, r.labels, r.inputIds.length, v);
    lossSum += ce.lossSum;
    labelTokens += ce.count;
  });
  if (labelTokens === 0) throw new Error(`Batch of ${batch.length} records has no label tokens`);
  const grads = new Map<string, A>();
  for (const [key, value] of lora.tensors) grads.set(key, zerosLike(value, value.length));
  batch.forEach((r, i) => {
    const t = r.inputIds.length;
    const dlogits = crossEntropyBackward(acts[i].logits, r.labels, t, v, 1 / labelTokens); // (T, V)
    backward(config, model, t, tables, acts[i], dlogits, grads);
  });
  return { loss: lossSum / labelTokens, labelTokens, grads };
}
