/**
 * The reference Llama (Hugging Face `LlamaForCausalLM` semantics) with unmerged PEFT LoRA:
 * logits, and the loss and LoRA gradients of a batch. It chains the plain-loop reference ops,
 * one record at a time (no padding), with a flat forward and a mirror-image backward.
 *
 * Layer: x += o(attn(rope(q(n1)), rope(k(n1)), v(n1))) with n1 = rmsnorm(x);
 *        x += down(silu(gate(n2)) · up(n2))           with n2 = rmsnorm(x);
 * then logits = rmsnorm(x)·lm_headᵀ. Base weights and embeddings are frozen; only the LoRA
 * matrices get gradients. LoRA dropout is not modelled (the golden adapter has none).
 *
 * Dimensions: T tokens, D hidden, I intermediate, H heads, KV kv heads, HD head dim, V vocab,
 * R lora rank.
 *
 * @module
 */
import type { LlamaConfig } from "../llama_config.ts";
import type { Projection } from "../model/names.ts";
import { ropeTables } from "../rope.ts";
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
} from "./llama_weights.ts";
import { loraBackward, loraForward } from "./lora.ts";
import { residualAdd } from "./residual.ts";
import { rmsnormBackward, rmsnormForward } from "./rmsnorm.ts";
import { ropeBackward, ropeForward } from "./rope.ts";
import { swigluBackward, swigluForward } from "./swiglu.ts";

export type { ReferenceLora, ReferenceWeights } from "./llama_weights.ts";

/** One training record: token ids and labels of the same length, −100 for ignored labels. */
export interface ReferenceRecord {
  /** (T) token ids. */
  inputIds: number[];
  /** (T) labels; the logits at t predict labels[t + 1]. */
  labels: number[];
}

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
  n1: A; // (T, D) attention norm output
  rstd1: A; // (T)
  q: A; // (T, H·HD) rotated queries
  k: A; // (T, KV·HD) rotated keys
  v: A; // (T, KV·HD)
  probs: A; // (H, T, T)
  att: A; // (T, H·HD) attention output, input of o_proj
  xMid: A; // (T, D) residual stream after attention
  n2: A; // (T, D) MLP norm output
  rstd2: A; // (T)
  g: A; // (T, I) gate projection
  u: A; // (T, I) up projection
  h: A; // (T, I) silu(g)·u, input of down_proj
  xa: Map<Projection, A>; // (T, R) per adapted projection: x·Aᵀ
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

/** y = x·Wᵀ (+ s·B·(A·x)); records x·Aᵀ for the backward pass. */
function project<A extends FloatArray>(
  lin: ReferenceLinear<A>,
  x: A, // (T, IN)
  t: number,
  scale: number,
  xa: Map<Projection, A>,
  name: Projection,
): A {
  const y = linearForward(x, lin.w, t, lin.inFeatures, lin.outFeatures); // (T, OUT)
  if (lin.lora) {
    const { a, b, r } = lin.lora;
    xa.set(
      name,
      loraForward(y, x, a, b, scale, { m: t, k: lin.inFeatures, n: lin.outFeatures, r }),
    );
  }
  return y;
}

/** dx of one projection; accumulates dA and dB into `grads`. */
function projectBackward<A extends FloatArray>(
  lin: ReferenceLinear<A>,
  dy: A, // (T, OUT)
  x: A, // (T, IN)
  t: number,
  scale: number,
  xa: Map<Projection, A>,
  name: Projection,
  grads: Map<string, A>,
): A {
  const dx = linearBackward(dy, lin.w, t, lin.inFeatures, lin.outFeatures); // (T, IN)
  if (lin.lora) {
    const { a, b, r, keyA, keyB } = lin.lora;
    const dims = { m: t, k: lin.inFeatures, n: lin.outFeatures, r };
    const { dA, dB } = loraBackward(dy, x, xa.get(name)!, a, b, scale, dx, dims);
    residualAdd(grads.get(keyA)!, dA);
    residualAdd(grads.get(keyB)!, dB);
  }
  return dx;
}

/** The forward pass of one record, keeping every activation the backward pass needs. */
function forward<A extends FloatArray>(
  config: LlamaConfig,
  model: ReferenceModel<A>,
  ids: number[],
  tables: Tables,
): Activations<A> {
  const { hiddenSize: d, numHeads: h, numKvHeads: kv, headDim: hd, rmsNormEps: eps } = config;
  const t = ids.length;
  const s = model.loraScale;
  const { cos, sin } = tables;
  const attnDims: AttentionDims = { t, h, kv, hd, offset: 0 };
  const x = embeddingForward(model.embed, ids, config.vocabSize, d); // (T, D) residual stream
  const layers: LayerActivations<A>[] = [];
  for (const layer of model.layers) {
    const p = layer.proj;
    const xa = new Map<Projection, A>();
    const xIn = x.slice() as A; // (T, D) the layer input, kept for backward
    const { y: n1, rstd: rstd1 } = rmsnormForward(x, layer.attnNorm, t, d, eps); // (T, D)
    const q = project(p.q_proj, n1, t, s, xa, "q_proj"); // (T, H·HD)
    const k = project(p.k_proj, n1, t, s, xa, "k_proj"); // (T, KV·HD)
    const v = project(p.v_proj, n1, t, s, xa, "v_proj"); // (T, KV·HD)
    ropeForward(q, cos, sin, t, h, hd, 0); // rotate queries in place
    ropeForward(k, cos, sin, t, kv, hd, 0); // rotate keys in place
    const { out: att, probs } = attentionForward(q, k, v, attnDims); // (T, H·HD), (H, T, T)
    residualAdd(x, project(p.o_proj, att, t, s, xa, "o_proj")); // x += o(att)
    const xMid = x.slice() as A; // (T, D)
    const { y: n2, rstd: rstd2 } = rmsnormForward(x, layer.mlpNorm, t, d, eps); // (T, D)
    const g = project(p.gate_proj, n2, t, s, xa, "gate_proj"); // (T, I)
    const u = project(p.up_proj, n2, t, s, xa, "up_proj"); // (T, I)
    const hAct = swigluForward(g, u); // (T, I)
    residualAdd(x, project(p.down_proj, hAct, t, s, xa, "down_proj")); // x += down(h)
    layers.push({ xIn, n1, rstd1, q, k, v, probs, att, xMid, n2, rstd2, g, u, h: hAct, xa });
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
  config: LlamaConfig,
  model: ReferenceModel<A>,
  t: number,
  tables: Tables,
  acts: Activations<A>,
  dlogits: A, // (T, V)
  grads: Map<string, A>,
): void {
  const { hiddenSize: d, numHeads: h, numKvHeads: kv, headDim: hd } = config;
  const s = model.loraScale;
  const { cos, sin } = tables;
  const attnDims: AttentionDims = { t, h, kv, hd, offset: 0 };
  const dnf = linearBackward(dlogits, model.lmHead, t, d, config.vocabSize); // (T, D)
  const dx = rmsnormBackward(dnf, acts.xOut, model.norm, acts.rstdF, t, d); // (T, D) d stream
  for (let l = model.layers.length - 1; l >= 0; l--) {
    const layer = model.layers[l], p = layer.proj, a = acts.layers[l];
    // MLP block, reversed: x += down(silu(gate(n2)) · up(n2)).
    const dh = projectBackward(p.down_proj, dx, a.h, t, s, a.xa, "down_proj", grads); // (T, I)
    const { dg, du } = swigluBackward(dh, a.g, a.u); // (T, I) each
    const dn2 = projectBackward(p.gate_proj, dg, a.n2, t, s, a.xa, "gate_proj", grads); // (T, D)
    residualAdd(dn2, projectBackward(p.up_proj, du, a.n2, t, s, a.xa, "up_proj", grads));
    residualAdd(dx, rmsnormBackward(dn2, a.xMid, layer.mlpNorm, a.rstd2, t, d)); // (T, D)
    // Attention block, reversed: x += o(attn(rope(q(n1)), rope(k(n1)), v(n1))).
    const datt = projectBackward(p.o_proj, dx, a.att, t, s, a.xa, "o_proj", grads); // (T, H·HD)
    const { dq, dk, dv } = attentionBackward(datt, a.q, a.k, a.v, a.probs, attnDims);
    ropeBackward(dq, cos, sin, t, h, hd, 0); // (T, H·HD)
    ropeBackward(dk, cos, sin, t, kv, hd, 0); // (T, KV·HD)
    const dn1 = projectBackward(p.q_proj, dq, a.n1, t, s, a.xa, "q_proj", grads); // (T, D)
    residualAdd(dn1, projectBackward(p.k_proj, dk, a.n1, t, s, a.xa, "k_proj", grads));
    residualAdd(dn1, projectBackward(p.v_proj, dv, a.n1, t, s, a.xa, "v_proj", grads));
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
  config: LlamaConfig,
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
 * logits at t predict labels[t + 1]); records are run one at a time, unpadded.
 */
export function referenceLossAndGrads<A extends FloatArray = Float32Array>(
  config: LlamaConfig,
  weights: ReferenceWeights<A>,
  batch: ReferenceRecord[],
  lora: ReferenceLora<A>,
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
  const acts = batch.map((r) => forward(config, model, r.inputIds, tables));
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
