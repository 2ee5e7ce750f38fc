/**
 * Fused softmax cross-entropy over a vocabulary processed in chunks, so the (R, V) logits
 * never need to exist at once (`kernels/cross_entropy_{reset,stats,finish}.wgsl`).
 * Per row, `stats` holds four f32: the running max, the running sum of exp(logit − max), the
 * target's logit and the loss. Record: reset; stats for every chunk; finish. The gradient,
 * scale·(softmax − onehot), is either written in place of logits kept from the forward
 * ({@linkcode recordCrossEntropyGrad}) or, when they were not kept, by the LM-head product
 * that recomputes a chunk's logits (`crossEntropyGrad` in `recordMatmul`).
 *
 * A chunk's logits buffer holds columns for vocabulary ids vocabOffset..vocabOffset+count−1,
 * row r at element r·ldLogits. Targets are i32, already shifted by the caller (the label each
 * row predicts), −100 (any negative) for an ignored row, and otherwise checked to be < V by
 * the caller.
 *
 * Dimensions: R rows, V vocab, C columns of a chunk, LD the row stride of its logits.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { grid1d } from "./_grid.ts";

/** The rows and their statistics. */
export interface CrossEntropyRows {
  /** Statistics (R, 4) f32: max, Σexp, target logit, loss. */
  stats: GPUBuffer;
  /** Rows. */
  rows: number;
}

/** One chunk of the vocabulary. */
export interface CrossEntropyChunk extends CrossEntropyRows {
  /** Logits of the chunk (R, LD), f32. */
  logits: GPUBuffer;
  /** Row stride of `logits` in elements (at least vocabCount). */
  ldLogits: number;
  /** Targets (R) i32, negative = ignored. */
  targets: GPUBuffer;
  /** Vocabulary id of the chunk's first column. */
  vocabOffset: number;
  /** Columns in the chunk. */
  vocabCount: number;
}

/** Empties the statistics of every row: max −3e38, the rest 0. */
export function recordCrossEntropyReset(rec: CommandRecorder, args: CrossEntropyRows): void {
  rec.dispatch({
    kernel: "cross_entropy_reset",
    params: new ParamWriter().u32(args.rows).bytes(),
    buffers: [args.stats],
    workgroups: grid1d(args.rows, 256),
  });
}

/**
 * Folds one chunk into each row's running max and Σexp, and captures the target's logit when
 * the target falls in the chunk.
 */
export function recordCrossEntropyStats(rec: CommandRecorder, args: CrossEntropyChunk): void {
  checkChunk(args);
  rec.dispatch({
    kernel: "cross_entropy_stats",
    params: new ParamWriter()
      .u32(args.rows).u32(args.ldLogits).u32(args.vocabOffset).u32(args.vocabCount)
      .bytes(),
    buffers: [args.logits, args.targets, args.stats],
    workgroups: [Math.min(args.rows, 65535), Math.ceil(args.rows / 65535)],
  });
}

/** The running loss total {@linkcode recordCrossEntropyFinish} adds to. */
export interface LossTotal {
  /** Running totals (S) f32, one per slot. */
  lossSum: GPUBuffer;
  /** The slot to add to. */
  slot: number;
  /** Multiplies the sum of the row losses before it is added. */
  scale: number;
  /** Start the slot over (overwrite it) instead of adding to it. */
  reset: boolean;
}

/**
 * loss[r] = log Σexp − target logit, 0 for ignored rows, after every chunk's stats; then
 * lossSum[slot] (+)= scale · Σ loss[r], so a caller can read a total of many batches at once.
 */
export function recordCrossEntropyFinish(
  rec: CommandRecorder,
  args: CrossEntropyRows & LossTotal & { targets: GPUBuffer },
): void {
  rec.dispatch({
    kernel: "cross_entropy_finish",
    params: new ParamWriter()
      .u32(args.rows).u32(args.slot).u32(args.reset ? 1 : 0).f32(args.scale)
      .bytes(),
    buffers: [args.targets, args.stats, args.lossSum],
    workgroups: [1],
  });
}

/**
 * Turns a chunk's logits, in place, into their gradient scale·(softmax − onehot(target)) (0
 * for an ignored row), from the statistics of every chunk (after finish).
 */
export function recordCrossEntropyGrad(
  rec: CommandRecorder,
  args: CrossEntropyChunk & { scale: number },
): void {
  checkChunk(args);
  rec.dispatch({
    kernel: "cross_entropy_grad",
    params: new ParamWriter()
      .u32(args.rows).u32(args.vocabCount).u32(args.ldLogits).u32(args.vocabOffset)
      .f32(args.scale)
      .bytes(),
    buffers: [args.logits, args.targets, args.stats],
    workgroups: grid1d(args.rows * args.vocabCount, 256),
  });
}

function checkChunk({ vocabCount, ldLogits }: CrossEntropyChunk): void {
  if (!(vocabCount >= 1 && vocabCount <= ldLogits)) {
    throw new RangeError(
      `Vocab chunk of ${vocabCount} columns must be in [1, ldLogits ${ldLogits}]`,
    );
  }
}
