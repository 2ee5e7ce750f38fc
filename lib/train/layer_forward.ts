/**
 * The decoder stack's forward pass for training and evaluation: embedding, each layer with
 * what backward needs saved, and the final norm. A layer's projections are the adapted linear
 * that inference records too (`recordAdaptedLinear`), with dropout on the adapter's input.
 *
 * Dimensions: B sequences, T tokens per sequence, N = B·T rows, D hidden, I intermediate,
 * H heads, KV kv heads, HD head dim, R rank, L layers.
 *
 * @module
 */
import type { Allocated } from "../gpu/buffer_plan.ts";
import type { Projection } from "../model/names.ts";
import { recordAttention } from "../ops/attention.ts";
import { recordBiasAdd } from "../ops/bias_add.ts";
import { recordDropout } from "../ops/dropout.ts";
import { recordEmbedding } from "../ops/embedding.ts";
import { recordAdaptedLinear, recordLoraDown } from "../ops/lora.ts";
import { recordHeadNorms, recordRmsnorm } from "../ops/rmsnorm.ts";
import { recordRope } from "../ops/rope.ts";
import { recordSwiglu } from "../ops/swiglu.ts";
import { dropoutMaskSeed, loraShapeOf, type PassContext, passRows } from "./pass_context.ts";
import type { ForwardPlan, LayerActivationsPlan } from "./train_plan.ts";

/** One layer's saved activations on the GPU. */
export type LayerActivations = Allocated<LayerActivationsPlan>;

/** The buffers of a forward pass on the GPU. */
export type ForwardBuffers = Allocated<ForwardPlan>;

/** The residual stream entering layer `l` (x_L leaves the last): its own, or one of two. */
export function residualAt(t: ForwardBuffers, l: number): GPUBuffer {
  return t.residual[l % t.residual.length].buffer;
}

/** Layer `l`'s saved activations: its own, or the shared set. */
export function activationsAt(t: ForwardBuffers, l: number): LayerActivations {
  return t.layers[l % t.layers.length];
}

/** Records x_0 = embed[ids], every layer, and the final norm of x_L into the loss workspace. */
export function recordForward(ctx: PassContext, t: ForwardBuffers): void {
  const { config: c, rec, weights: w } = ctx, N = passRows(ctx);
  recordEmbedding(rec, t.ids.buffer, w.embed, residualAt(t, 0), N); // x0 = embed[ids]
  for (let l = 0; l < c.numLayers; l++) {
    recordLayerForward(ctx, l, activationsAt(t, l), residualAt(t, l), residualAt(t, l + 1));
  }
  recordRmsnorm(rec, {
    x: residualAt(t, c.numLayers),
    weight: w.finalNorm,
    y: t.loss.finalNorm.buffer,
    rstd: t.loss.finalRstd.buffer,
    rows: N,
    eps: c.rmsNormEps,
  }); // final.n = rmsnorm(x_L)
}

/**
 * One decoder layer from x into `next` (x_{l+1}); with `next` null (recomputing in backward)
 * it stops at what backward needs: the MLP's input and an adapted down_proj's u.
 */
export function recordLayerForward(
  ctx: PassContext,
  l: number,
  a: LayerActivations,
  x: GPUBuffer,
  next: GPUBuffer | null,
): void {
  const { config: c, rec } = ctx, w = ctx.weights.layers[l];
  const N = passRows(ctx), D = c.hiddenSize, eps = c.rmsNormEps;
  const project = (p: Projection, input: GPUBuffer, y: GPUBuffer, accumulate = false) =>
    recordProjection(ctx, l, p, a, input, y, accumulate);
  recordRmsnorm(rec, {
    x,
    weight: w.inputNorm,
    y: a.n1.buffer,
    rstd: a.rstd1.buffer,
    rows: N,
    eps,
  }); // n1 = rmsnorm(x)
  const qk = a.qkNorm; // Qwen3: q and k are normed per head before RoPE
  project("q_proj", a.n1.buffer, (qk?.qRaw ?? a.q).buffer); // q = n1·Wqᵀ (+ b) (+ LoRA)
  project("k_proj", a.n1.buffer, (qk?.kRaw ?? a.k).buffer); // k = n1·Wkᵀ (+ b) (+ LoRA)
  project("v_proj", a.n1.buffer, a.v.buffer); // v = n1·Wvᵀ (+ b) (+ LoRA)
  if (qk) {
    recordHeadNorms(rec, {
      q: { raw: qk.qRaw.buffer, normed: a.q.buffer },
      k: { raw: qk.kRaw.buffer, normed: a.k.buffer },
      rstd: { q: qk.rstdQ.buffer, k: qk.rstdK.buffer },
      weights: w.qkNorm!,
      tokens: N,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      eps,
    }); // q, k = rmsnorm of each head
  }
  recordRope(rec, { ...ropeArgs(ctx, false), q: a.q.buffer, k: a.k.buffer }); // rotate q and k
  recordAttention(rec, {
    q: a.q.buffer,
    k: a.k.buffer,
    v: a.v.buffer,
    out: a.attn.buffer,
    lse: a.lse.buffer,
    batch: ctx.batch.B,
    T: ctx.batch.T,
    S: ctx.batch.T,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    positionOffset: 0,
  }); // attn = softmax(q·kᵀ/√HD)·v
  rec.copy(x, 0, a.xmid.buffer, 0, N * D * 4); // xmid = x
  project("o_proj", a.attn.buffer, a.xmid.buffer, true); // xmid += attn·Woᵀ
  recordRmsnorm(rec, {
    x: a.xmid.buffer,
    weight: w.postAttentionNorm,
    y: a.n2.buffer,
    rstd: a.rstd2.buffer,
    rows: N,
    eps,
  }); // n2 = rmsnorm(xmid)
  project("gate_proj", a.n2.buffer, a.gate.buffer); // gate = n2·Wgᵀ
  project("up_proj", a.n2.buffer, a.up.buffer); // up = n2·Wuᵀ
  recordSwiglu(rec, a.gate.buffer, a.up.buffer, a.hidden.buffer, N * c.intermediateSize); // hidden = silu(gate)·up
  if (!next) {
    // Backward needs u of an adapted down_proj, not the projection's output.
    if (ctx.adapter?.pair(l, "down_proj")) recordLoraU(ctx, l, "down_proj", a, a.hidden.buffer);
    return;
  }
  rec.copy(a.xmid.buffer, 0, next, 0, N * D * 4); // x_{l+1} = xmid
  project("down_proj", a.hidden.buffer, next, true); // x_{l+1} += hidden·Wdᵀ
}

/**
 * y (+)= x·Wᵀ (+ b), plus s·u·Bᵀ when `p` is adapted: u = dropout(x)·Aᵀ first (saved in the
 * layer's activations for backward), then the base product adds the branch as it stores y,
 * then the bias, if the family has one here.
 */
function recordProjection(
  ctx: PassContext,
  l: number,
  p: Projection,
  a: LayerActivations,
  x: GPUBuffer,
  y: GPUBuffer,
  accumulate: boolean,
): void {
  const pair = ctx.adapter?.pair(l, p);
  const lora = pair && {
    ...pair,
    u: a.u[p]!.buffer, // (N, R)
    shape: loraShapeOf(ctx, p),
    input: adapterInput(ctx, l, p, x),
  };
  const { projections, biases } = ctx.weights.layers[l], rows = passRows(ctx);
  recordAdaptedLinear(ctx.rec, x, y, { weight: projections[p], rows, accumulate, lora }); // y (+)= x·Wᵀ (+ s·u·Bᵀ)
  const bias = biases[p];
  if (bias) recordBiasAdd(ctx.rec, { bias: bias.buffer, y, rows, n: bias.shape[0] }); // y += b
}

/** Records u = dropout(x)·Aᵀ (N, R) of an adapted projection into the layer's activations. */
function recordLoraU(
  ctx: PassContext,
  l: number,
  p: Projection,
  a: LayerActivations,
  x: GPUBuffer,
): void {
  const input = adapterInput(ctx, l, p, x), A = ctx.adapter!.pair(l, p)!.a;
  recordLoraDown(ctx.rec, loraShapeOf(ctx, p), input, A, a.u[p]!.buffer); // u = dropout(x)·Aᵀ
}

/**
 * The adapter's input for projection `p` of layer `l`: x itself without dropout, or
 * dropout(x) recorded into the scratch buffer.
 */
export function adapterInput(ctx: PassContext, l: number, p: Projection, x: GPUBuffer): GPUBuffer {
  if (!ctx.dropout) return x;
  const { p: prob, seed, scratch } = ctx.dropout;
  const n = passRows(ctx) * loraShapeOf(ctx, p).inFeatures;
  recordDropout(ctx.rec, { x, y: scratch, n, p: prob, seed: dropoutMaskSeed(seed, l, p) });
  return scratch;
}

/** RoPE over the batch's rows (positions restart at 0 in each sequence); inverse in backward. */
export function ropeArgs(ctx: PassContext, inverse: boolean) {
  const { config: c, batch } = ctx;
  return {
    ...ctx.rope,
    rows: batch.B * batch.T,
    T: batch.T,
    qHeads: c.numHeads,
    kHeads: c.numKvHeads,
    headDim: c.headDim,
    positionOffset: 0,
    inverse,
  };
}
