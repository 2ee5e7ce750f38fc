/**
 * The LM head and its loss, in pieces over the vocabulary (the LM head's weight chunks, cut to
 * the logits buffer's columns): the fused softmax cross-entropy forward (per-row online max and
 * Σexp, then loss = lse − target logit), and its backward. Two ways, by the logits buffer the
 * plan made (`vocabChunkRows`):
 * - kept: the buffer holds all (N, V) logits (when they fit in `KEPT_LOGITS_BYTES`), the
 *   forward writes every piece into it, and the backward turns them into their gradient in
 *   place and multiplies: two products of the LM head's size per micro-step;
 * - chunked: the buffer holds one piece, and the backward recomputes each piece's logits with
 *   the gradient in the product's epilogue: three products, but no (N, V) buffer.
 *
 * Dimensions: N = B·T rows, D hidden, V vocab, VC vocab chunk.
 *
 * @module
 */
import type { Allocated } from "../gpu/buffer_plan.ts";
import {
  recordCrossEntropyFinish,
  recordCrossEntropyGrad,
  recordCrossEntropyReset,
  recordCrossEntropyStats,
} from "../ops/cross_entropy.ts";
import { type MatmulArgs, recordMatmul } from "../ops/matmul.ts";
import { type PassContext, passRows } from "./pass_context.ts";
import type { LossPlan } from "./train_plan.ts";

/** The loss workspace on the GPU. */
export type LossBuffers = Allocated<LossPlan>;

/** A slice of the LM head no larger than the logits chunk. */
interface VocabPiece {
  /** The weight chunk's buffer. */
  buffer: GPUBuffer;
  /** The weight chunk's index. */
  chunk: number;
  /** Its first row within that buffer. */
  offsetRows: number;
  /** Its first vocabulary id. */
  start: number;
  /** Rows (vocabulary ids) in the piece. */
  count: number;
}

/** Where the summed token losses go: a slot of `loss.sum`, their scale, and whether to restart it. */
export interface LossTotal {
  /** Slot of the running totals (0 training, 1 forward-only). */
  slot: number;
  /** Multiplies the summed token losses. */
  scale: number;
  /** Start the slot's total over instead of adding to it. */
  reset: boolean;
}

/**
 * Records the loss of `final.n` against `targets`: per-row losses into the stats, and their
 * sum times `total.scale` into the running total's slot.
 */
export function recordLoss(
  ctx: PassContext,
  t: LossBuffers,
  targets: GPUBuffer,
  total: LossTotal,
): void {
  const rec = ctx.rec, N = passRows(ctx), stats = t.stats.buffer, V = ctx.config.vocabSize;
  recordCrossEntropyReset(rec, { stats, rows: N });
  const kept = keepsLogits(ctx, t);
  for (const piece of vocabPieces(ctx, t)) {
    // logits[:, piece] = final.n · E[piece]ᵀ, into the piece's columns of all V when kept
    recordLogits(ctx, t, piece, kept ? { cOffset: piece.start, ldc: V } : {});
    if (!kept) recordStats(ctx, t, targets, piece.start, piece.count); // online max and Σexp
  }
  if (kept) recordStats(ctx, t, targets, 0, V);
  recordCrossEntropyFinish(rec, {
    stats,
    targets,
    rows: N,
    lossSum: t.sum.buffer,
    ...total,
  }); // loss = lse − target logit
}

/**
 * Records d final.n (N, D) = Σ over pieces of dlogits · E[piece], where dlogits =
 * scale·(softmax − onehot) comes from the logits kept by {@linkcode recordLoss} (in place), or
 * from each piece's logits recomputed, never stored. Where the LM head has transposed copies
 * (`ctx.transposed`), the products read E[piece]ᵀ as the forward reads E.
 */
export function recordLossBackward(
  ctx: PassContext,
  t: LossBuffers,
  targets: GPUBuffer,
  scale: number,
  dFinalNorm: GPUBuffer,
): void {
  const D = ctx.config.hiddenSize, N = passRows(ctx), V = ctx.config.vocabSize;
  const lmHead = ctx.weights.lmHead, stats = t.stats.buffer, logits = t.logits.buffer;
  const kept = keepsLogits(ctx, t), copies = ctx.transposed?.of(lmHead);
  if (kept) {
    recordCrossEntropyGrad(ctx.rec, {
      logits,
      ldLogits: V,
      stats,
      targets,
      rows: N,
      vocabOffset: 0,
      vocabCount: V,
      scale,
    }); // dlogits (N, V), in place
  }
  vocabPieces(ctx, t).forEach((piece, i) => {
    if (!kept) {
      const crossEntropyGrad = { stats, targets, scale, vocabOffset: piece.start };
      recordLogits(ctx, t, piece, { crossEntropyGrad }); // dlogits of the piece
    }
    const copy = copies?.[piece.chunk]; // E[chunk]ᵀ (D, rows of the chunk)
    recordMatmul(ctx.rec, {
      a: logits,
      ...(kept ? { aOffset: piece.start, lda: V } : {}),
      c: dFinalNorm,
      M: N,
      N: D,
      K: piece.count,
      bDtype: lmHead.dtype,
      accumulate: i > 0,
      ...(copy
        ? {
          b: copy.chunks[0].buffer,
          bLayout: "nk",
          ldb: copy.shape[1],
          bOffset: piece.offsetRows,
        }
        : { b: piece.buffer, bLayout: "kn", bOffset: piece.offsetRows * D }),
    }); // d final.n (+)= dlogits[:, piece] · E[piece], read through E[piece]ᵀ where copied
  });
}

/** Whether the plan's logits buffer holds all V columns, so the forward keeps them. */
function keepsLogits(ctx: PassContext, t: LossBuffers): boolean {
  return t.logits.shape[1] === ctx.config.vocabSize;
}

/** Folds logits columns [start, start + count) into the rows' running max and Σexp. */
function recordStats(
  ctx: PassContext,
  t: LossBuffers,
  targets: GPUBuffer,
  start: number,
  count: number,
): void {
  recordCrossEntropyStats(ctx.rec, {
    logits: t.logits.buffer,
    ldLogits: keepsLogits(ctx, t) ? ctx.config.vocabSize : count,
    stats: t.stats.buffer,
    targets,
    rows: passRows(ctx),
    vocabOffset: start,
    vocabCount: count,
  });
}

/** The LM head's weight chunks cut into pieces of at most the logits buffer's columns. */
function vocabPieces(ctx: PassContext, t: LossBuffers): VocabPiece[] {
  const chunkRows = t.logits.shape[1], pieces: VocabPiece[] = [];
  for (const [i, chunk] of ctx.weights.lmHead.chunks.entries()) {
    for (let r = 0; r < chunk.rows; r += chunkRows) {
      pieces.push({
        buffer: chunk.buffer,
        chunk: i,
        offsetRows: r,
        start: chunk.rowStart + r,
        count: Math.min(chunkRows, chunk.rows - r),
      });
    }
  }
  return pieces;
}

/**
 * logits = final.n · E[piece]ᵀ; `store` places them (`cOffset`, `ldc`) or, with
 * `crossEntropyGrad`, stores their gradient instead.
 */
function recordLogits(
  ctx: PassContext,
  t: LossBuffers,
  piece: VocabPiece,
  store: Pick<MatmulArgs, "cOffset" | "ldc" | "crossEntropyGrad">,
): void {
  const D = ctx.config.hiddenSize;
  recordMatmul(ctx.rec, {
    a: t.finalNorm.buffer,
    b: piece.buffer,
    c: t.logits.buffer,
    M: passRows(ctx),
    N: piece.count,
    K: D,
    bLayout: "nk",
    bDtype: ctx.weights.lmHead.dtype,
    bOffset: piece.offsetRows * D,
    ...store,
  });
}
