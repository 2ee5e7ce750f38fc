/**
 * A forward pass with the loss and no backward: what evaluation needs, and what the trainer
 * runs for a validation loss. The summed token losses add up on the GPU in a running total
 * that is read back only when asked, so many batches cost one readback.
 *
 * Dimensions: B sequences, T tokens per sequence, N = B·T rows.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import type { PackedBatch } from "./batch.ts";
import { type ForwardBuffers, recordForward } from "./layer_forward.ts";
import { type LossTotal, recordLoss } from "./lm_head_loss.ts";
import type { PassContext } from "./pass_context.ts";

/** Something that sums the token losses of batches, forward only (no dropout, no gradients). */
export interface ForwardLoss {
  /**
   * Records and submits the forward pass and loss of `batch`, adding its summed token losses
   * to a running total. With `read`, returns the total (including this batch), and the next
   * call starts it over; otherwise returns null.
   */
  forwardLoss(batch: PackedBatch, read: boolean): Promise<number> | null;
}

/** Per slot of `loss.sum`: whether the next pass into it starts the total over. */
export class LossTotals {
  readonly #restart = [true, true];

  /** The total of `slot` for a pass that multiplies its losses by `scale`. */
  next(slot: number, scale: number): LossTotal {
    return { slot, scale, reset: this.#restart[slot] };
  }

  /** Notes whether the pass into `slot` read its total back (the next one then restarts it). */
  recorded(slot: number, read: boolean): void {
    this.#restart[slot] = read;
  }
}

/**
 * Checks `batch` against the buffers' capacity (B×T) and the vocabulary, and writes its ids
 * and targets. Returns the batch's size.
 */
export function writeBatch(
  gpu: Gpu,
  t: Pick<ForwardBuffers, "ids" | "targets">,
  batch: PackedBatch,
  capacity: { batchSize: number; seqLen: number; vocabSize: number },
): { B: number; T: number } {
  const { batchSize: B, seqLen: T } = batch;
  if (B > capacity.batchSize || T > capacity.seqLen) {
    throw new RangeError(
      `Batch ${B}×${T} exceeds the trainer's ${capacity.batchSize}×${capacity.seqLen}`,
    );
  }
  for (const id of batch.ids) {
    if (id >= capacity.vocabSize) throw new RangeError(`Token id ${id} is outside the vocabulary`);
  }
  gpu.device.queue.writeBuffer(t.ids.buffer, 0, batch.ids as Uint32Array<ArrayBuffer>);
  gpu.device.queue.writeBuffer(t.targets.buffer, 0, batch.targets as Int32Array<ArrayBuffer>);
  return { B, T };
}

/** Records the forward pass and the loss into `total`; returns the total's readback if asked. */
export function recordForwardLoss(
  ctx: PassContext,
  t: ForwardBuffers,
  total: LossTotal,
  read: boolean,
): Promise<ArrayBuffer> | null {
  recordForward(ctx, t);
  recordLoss(ctx, t.loss, t.targets.buffer, total);
  return read ? ctx.rec.read(t.loss.sum.buffer, total.slot * 4, 4) : null;
}

/** The f32 a 4-byte readback holds. */
export function readF32(bytes: Promise<ArrayBuffer>): Promise<number> {
  return bytes.then((b) => new Float32Array(b)[0]);
}
