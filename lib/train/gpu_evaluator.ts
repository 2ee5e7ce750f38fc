/**
 * Forward-only evaluation on WebGPU: the loss of batches under the base model or an adapter
 * applied unmerged, with its own small plan (two residual buffers and one set of layer
 * activations, whatever the depth) and no gradients, optimizer state or dropout.
 *
 * Dimensions: B sequences, T tokens per sequence, N = B·T rows.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type Allocated, allocatePlan, destroyAllocated } from "../gpu/buffer_plan.ts";
import { CommandRecorder } from "../gpu/recorder.ts";
import type { GpuLoraAdapter } from "../lora/gpu_adapter.ts";
import type { ModelConfig } from "../model/config.ts";
import type { GpuWeights } from "../model/gpu_weights.ts";
import { ropeTables } from "../model/rope_frequencies.ts";
import type { PackedBatch } from "./batch.ts";
import {
  type ForwardLoss,
  LossTotals,
  readF32,
  recordForwardLoss,
  writeBatch,
} from "./forward_loss.ts";
import { type ForwardPlan, planEvaluation } from "./train_plan.ts";

const SLOT = 0; // the evaluator's running loss total

/** Sums the token losses of batches, forward only, under one adapter or none. */
export class GpuEvaluator implements ForwardLoss {
  readonly #gpu: Gpu;
  readonly #config: ModelConfig;
  readonly #weights: GpuWeights;
  readonly #adapter: GpuLoraAdapter | null;
  readonly #t: Allocated<ForwardPlan>;
  readonly #rec: CommandRecorder;
  readonly #capacity: { batchSize: number; seqLen: number; vocabSize: number };
  readonly #totals = new LossTotals();

  /** Allocates the evaluation plan for batches of up to `batchSize` × `seqLen`. */
  constructor(
    gpu: Gpu,
    config: ModelConfig,
    weights: GpuWeights,
    adapter: GpuLoraAdapter | null,
    sizes: { batchSize: number; seqLen: number },
  ) {
    this.#gpu = gpu;
    this.#config = config;
    this.#weights = weights;
    this.#adapter = adapter;
    this.#capacity = { ...sizes, vocabSize: config.vocabSize };
    const lora = adapter?.weights.config ?? null;
    this.#t = allocatePlan(
      gpu,
      planEvaluation(config, lora, { ...sizes, maxBindingBytes: gpu.maxBindingBytes }),
    );
    const { cos, sin } = ropeTables(config, sizes.seqLen);
    this.#t.rope.cos.write(new Uint8Array(cos.buffer));
    this.#t.rope.sin.write(new Uint8Array(sin.buffer));
    this.#rec = new CommandRecorder(gpu);
  }

  /** The forward pass and loss of `batch` (see {@linkcode ForwardLoss.forwardLoss}). */
  forwardLoss(batch: PackedBatch, read: boolean): Promise<number> | null {
    const ctx = {
      rec: this.#rec,
      config: this.#config,
      weights: this.#weights,
      batch: writeBatch(this.#gpu, this.#t, batch, this.#capacity),
      rope: { cos: this.#t.rope.cos.buffer, sin: this.#t.rope.sin.buffer },
      adapter: this.#adapter,
      dropout: null,
    };
    const total = recordForwardLoss(ctx, this.#t, this.#totals.next(SLOT, 1), read);
    this.#totals.recorded(SLOT, read);
    this.#rec.submit();
    return total && readF32(total);
  }

  /** Frees the evaluation buffers (not the weights or the adapter). */
  dispose(): void {
    destroyAllocated(this.#t);
    this.#rec.dispose();
  }
}
