/**
 * The LM head and its loss, chunked over the vocabulary so that no (N, V) logits buffer
 * exists: the fused softmax cross-entropy forward (per-row online max and Σexp over the
 * chunks, then loss = lse − target logit), and its backward, which recomputes each chunk's
 * logits and turns them into their gradient in the product's epilogue.
 *
 * Dimensions: N = B·T rows, D hidden, V vocab, VC vocab chunk.
 *
 * @module
 */
import type { Allocated } from "../gpu/buffer_plan.ts";
import {
  recordCrossEntropyFinish,
  recordCrossEntropyReset,
  recordCrossEntropyStats,
} from "../ops/cross_entropy.ts";
import { type FusedCrossEntropyGrad, recordMatmul } from "../ops/matmul.ts";
import { type PassContext, passRows } from "./pass_context.ts";
import type { LossPlan } from "./train_plan.ts";

/** The loss workspace on the GPU. */
export type LossBuffers = Allocated<LossPlan>;

/** A slice of the LM head no larger than the logits chunk. */
interface VocabPiece {
  /** The weight chunk's buffer. */
  buffer: GPUBuffer;
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
  const rec = ctx.rec, N = passRows(ctx), stats = t.stats.buffer;
  recordCrossEntropyReset(rec, { stats, rows: N });
  for (const piece of vocabPieces(ctx, t)) {
    recordLogits(ctx, t, piece); // logits = final.n · E[piece]ᵀ
    recordCrossEntropyStats(rec, {
      logits: t.logits.buffer,
      ldLogits: piece.count,
      stats,
      targets,
      rows: N,
      vocabOffset: piece.start,
      vocabCount: piece.count,
    }); // online max and Σexp per row
  }
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
 * scale·(softmax − onehot) comes from each piece's logits recomputed, never stored.
 */
export function recordLossBackward(
  ctx: PassContext,
  t: LossBuffers,
  targets: GPUBuffer,
  scale: number,
  dFinalNorm: GPUBuffer,
): void {
  const D = ctx.config.hiddenSize, N = passRows(ctx), lmHead = ctx.weights.lmHead;
  vocabPieces(ctx, t).forEach((piece, i) => {
    const grad = { stats: t.stats.buffer, targets, scale, vocabOffset: piece.start };
    recordLogits(ctx, t, piece, grad); // dlogits of the piece
    recordMatmul(ctx.rec, {
      a: t.logits.buffer,
      b: piece.buffer,
      c: dFinalNorm,
      M: N,
      N: D,
      K: piece.count,
      bLayout: "kn",
      bDtype: lmHead.dtype,
      bOffset: piece.offsetRows * D,
      accumulate: i > 0,
    }); // d final.n (+)= dlogits · E[piece]
  });
}

/** The LM head's weight chunks cut into pieces of at most the logits buffer's columns. */
function vocabPieces(ctx: PassContext, t: LossBuffers): VocabPiece[] {
  const chunkRows = t.logits.shape[1], pieces: VocabPiece[] = [];
  for (const chunk of ctx.weights.lmHead.chunks) {
    for (let r = 0; r < chunk.rows; r += chunkRows) {
      pieces.push({
        buffer: chunk.buffer,
        offsetRows: r,
        start: chunk.rowStart + r,
        count: Math.min(chunkRows, chunk.rows - r),
      });
    }
  }
  return pieces;
}

/** logits = final.n · E[piece]ᵀ, or with `grad` their cross-entropy gradient. */
function recordLogits(
  ctx: PassContext,
  t: LossBuffers,
  piece: VocabPiece,
  grad?: FusedCrossEntropyGrad,
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
    crossEntropyGrad: grad,
  });
}
