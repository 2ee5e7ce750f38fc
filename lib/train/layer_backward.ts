/**
 * The backward pass of one decoder layer: the forward's calls in reverse. The base weights are
 * frozen, so only the adapter's A and B get gradients, but activation gradients flow through
 * every op.
 *
 * Dimensions: B sequences, T tokens per sequence, N = B·T rows, D hidden, I intermediate,
 * H heads, KV kv heads, HD head dim, R rank.
 *
 * @module
 */
import type { Allocated } from "../gpu/buffer_plan.ts";
import type { LoraPair } from "../lora/projection_adapter.ts";
import type { Projection } from "../model/names.ts";
import { recordAttentionBackward } from "../ops/attention_backward.ts";
import { recordDropout } from "../ops/dropout.ts";
import { recordLinearBackward } from "../ops/matmul.ts";
import { recordLoraBackward } from "../ops/lora.ts";
import { recordRmsnormBackward } from "../ops/rmsnorm_backward.ts";
import { recordRope } from "../ops/rope.ts";
import { recordSwigluBackward } from "../ops/swiglu_backward.ts";
import { adapterInput, type LayerActivations, ropeArgs } from "./layer_forward.ts";
import { dropoutMaskSeed, loraShapeOf, type PassContext, passRows } from "./pass_context.ts";
import type { GradientPlan } from "./train_plan.ts";

/** The gradient buffers of backward: the shared workspace and the adapter's gradients. */
export interface BackwardBuffers {
  /** Activation gradients, reused by every layer. */
  grads: Allocated<GradientPlan>;
  /** dA and dB of an adapted projection (accumulated). */
  loraGrads(layer: number, projection: Projection): LoraPair;
}

/**
 * Backward of layer `l` whose input was x: `grads.x` holds d x_{l+1} on entry and d x_l on
 * exit; the adapter's gradients accumulate.
 */
export function recordLayerBackward(
  ctx: PassContext,
  l: number,
  a: LayerActivations,
  x: GPUBuffer,
  buffers: BackwardBuffers,
): void {
  const { config: c, rec } = ctx, w = ctx.weights.layers[l], N = passRows(ctx);
  const g = buffers.grads, dx = g.x.buffer, dn = g.n.buffer;
  const back = (p: Projection, input: GPUBuffer, dy: GPUBuffer, dIn: GPUBuffer, acc: boolean) =>
    recordProjectionBackward(ctx, l, p, { x: input, u: a.u[p]?.buffer, dy, dx: dIn, acc }, buffers);
  // MLP block, reversed: x_{l+1} = xmid + down(silu(gate)·up)
  back("down_proj", a.hidden.buffer, dx, g.hidden.buffer, false); // d hidden = dx·Wd (+ LoRA)
  recordSwigluBackward(
    rec,
    a.gate.buffer,
    a.up.buffer,
    g.hidden.buffer,
    g.gate.buffer,
    g.up.buffer,
    N * c.intermediateSize,
  ); // d gate, d up
  back("gate_proj", a.n2.buffer, g.gate.buffer, dn, false); // d n2 = d gate·Wg
  back("up_proj", a.n2.buffer, g.up.buffer, dn, true); // d n2 += d up·Wu
  recordRmsnormBackward(rec, {
    x: a.xmid.buffer,
    weight: w.postAttentionNorm,
    rstd: a.rstd2.buffer,
    dy: dn,
    dx,
    rows: N,
    accumulate: true,
  }); // d xmid = dx + d rmsnorm
  // Attention block, reversed: xmid = x_l + o(attention(rope(q), rope(k), v))
  back("o_proj", a.attn.buffer, dx, g.attn.buffer, false); // d attn = d xmid·Wo
  recordAttentionBackward(rec, {
    q: a.q.buffer,
    k: a.k.buffer,
    v: a.v.buffer,
    out: a.attn.buffer,
    lse: a.lse.buffer,
    dOut: g.attn.buffer,
    dq: g.q.buffer,
    dk: g.k.buffer,
    dv: g.v.buffer,
    delta: g.delta.buffer,
    batch: ctx.batch.B,
    T: ctx.batch.T,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
  }); // d q, d k, d v
  recordRope(rec, { ...ropeArgs(ctx, true), q: g.q.buffer, k: g.k.buffer }); // un-rotate d q and d k
  const qk = a.qkNorm, raw = g.qkRaw?.buffer; // Qwen3: through the per-head norms first
  if (qk && raw) {
    const norms = w.qkNorm!;
    recordRmsnormBackward(rec, {
      x: qk.qRaw.buffer,
      weight: norms.q,
      rstd: qk.rstdQ.buffer,
      dy: g.q.buffer,
      dx: raw,
      rows: N * c.numHeads,
    }); // d q before its norm
    back("q_proj", a.n1.buffer, raw, dn, false); // d n1 = d q·Wq
    recordRmsnormBackward(rec, {
      x: qk.kRaw.buffer,
      weight: norms.k,
      rstd: qk.rstdK.buffer,
      dy: g.k.buffer,
      dx: raw,
      rows: N * c.numKvHeads,
    }); // d k before its norm
    back("k_proj", a.n1.buffer, raw, dn, true); // d n1 += d k·Wk
  } else {
    back("q_proj", a.n1.buffer, g.q.buffer, dn, false); // d n1 = d q·Wq
    back("k_proj", a.n1.buffer, g.k.buffer, dn, true); // d n1 += d k·Wk
  }
  back("v_proj", a.n1.buffer, g.v.buffer, dn, true); // d n1 += d v·Wv
  recordRmsnormBackward(rec, {
    x,
    weight: w.inputNorm,
    rstd: a.rstd1.buffer,
    dy: dn,
    dx,
    rows: N,
    accumulate: true,
  }); // d x_l = d xmid + d rmsnorm
}

/**
 * Backward of y = x·Wᵀ + s·B·A·dropout(x), whose forward saved u: dx (+)= dy·W, and for an
 * adapted projection dB += s·dyᵀ·u, dA += (s·dy·B)ᵀ·dropout(x), dx += dropout(s·dy·B·A).
 */
function recordProjectionBackward(
  ctx: PassContext,
  l: number,
  p: Projection,
  io: { x: GPUBuffer; u?: GPUBuffer; dy: GPUBuffer; dx: GPUBuffer; acc: boolean },
  buffers: BackwardBuffers,
): void {
  const rec = ctx.rec, rows = passRows(ctx), pair = ctx.adapter?.pair(l, p);
  const weight = ctx.weights.layers[l].projections[p];
  const transposed = ctx.transposed?.of(weight);
  recordLinearBackward(rec, io.dy, io.dx, { weight, rows, accumulate: io.acc, transposed }); // dx (+)= dy·W
  if (!pair || !io.u) return;
  const shape = loraShapeOf(ctx, p), grads = buffers.loraGrads(l, p);
  const dropout = ctx.dropout;
  recordLoraBackward(rec, shape, {
    dy: io.dy,
    x: adapterInput(ctx, l, p, io.x),
    u: io.u, // u = dropout(x)·Aᵀ saved by the forward
    a: pair.a,
    b: pair.b,
    dA: grads.a,
    dB: grads.b,
    du: buffers.grads.u.buffer,
    dx: dropout ? dropout.scratch : io.dx,
    accumulateDx: !dropout,
  }); // dB, dA; dx += du·A (or into the scratch, to be masked)
  if (!dropout) return;
  recordDropout(rec, {
    x: dropout.scratch,
    y: io.dx,
    n: rows * shape.inFeatures,
    p: dropout.p,
    seed: dropoutMaskSeed(dropout.seed, l, p),
    accumulate: true,
  }); // dx += dropout(du·A)
}
