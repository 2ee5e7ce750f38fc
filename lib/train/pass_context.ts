/**
 * What the recorded passes of one micro-step read: the recorder, the frozen model, the batch's
 * size, the adapter and the dropout of its branch. Passed as an argument to every pass, so
 * that no pass depends on state left by an earlier call.
 *
 * Dimensions: B sequences, T tokens per sequence, N = B·T rows.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import type { ModelConfig } from "../model/config.ts";
import type { GpuWeights } from "../model/gpu_weights.ts";
import { type Projection, PROJECTIONS } from "../model/names.ts";
import { projectionFeatures } from "../model/shapes.ts";
import type { LoraShape } from "../ops/lora.ts";
import type { ProjectionAdapter } from "../lora/projection_adapter.ts";
import { hash2 } from "../util/hash.ts";
import type { TransposedWeights } from "./transposed_weights.ts";

/** LoRA dropout of one micro-step: the probability, the step's seed and the scratch it uses. */
export interface PassDropout {
  /** Probability p of dropping an input element (0 < p < 1). */
  p: number;
  /** This micro-step's seed; each (layer, projection) mask hashes it. */
  seed: number;
  /** dropout(x), or dU·A before masking (N, max(D, I, H·HD)). */
  scratch: GPUBuffer;
}

/** The state a pass records with. */
export interface PassContext {
  /** Where the commands go. */
  rec: CommandRecorder;
  /** The model's config. */
  config: ModelConfig;
  /** The frozen base weights. */
  weights: GpuWeights;
  /** Sequences B and tokens per sequence T of this micro-batch. */
  batch: { B: number; T: number };
  /** RoPE tables (T, HD/2) each. */
  rope: { cos: GPUBuffer; sin: GPUBuffer };
  /** The adapter applied, or null (the base model). */
  adapter: ProjectionAdapter | null;
  /** Dropout on the adapter's input (training with p > 0), or null. */
  dropout: PassDropout | null;
  /** Transposed copies of frozen weights that the backward reads instead of the weights. */
  transposed?: TransposedWeights;
}

/** Rows N = B·T of the micro-batch. */
export function passRows(ctx: PassContext): number {
  return ctx.batch.B * ctx.batch.T;
}

/** Rows, features, rank and scale of projection `p`'s adapter in this batch. */
export function loraShapeOf(ctx: PassContext, p: Projection): LoraShape {
  const adapter = ctx.adapter!;
  return {
    rows: passRows(ctx),
    ...projectionFeatures(ctx.config, p),
    rank: adapter.rank,
    scale: adapter.scale,
  };
}

/** A distinct dropout seed per (micro-step, layer, projection). */
export function dropoutMaskSeed(stepSeed: number, layer: number, p: Projection): number {
  return hash2(stepSeed, layer * PROJECTIONS.length + PROJECTIONS.indexOf(p));
}
