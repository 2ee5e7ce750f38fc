/**
 * What the engines bind for an adapter applied unmerged (y = W·x + s·B·(A·x)): its rank,
 * scale and the GPU matrices of each adapted projection. A loaded adapter (`GpuLoraAdapter`)
 * and the trainer's parameters both provide it, so inference, training and evaluation record
 * the adapted projection the same way.
 *
 * Dimensions: R rank, in/out the projection's features.
 *
 * @module
 */
import type { Projection } from "../model/names.ts";

/** The LoRA matrices of one adapted projection, f32 on the GPU. */
export interface LoraPair {
  /** A (R, in). */
  a: GPUBuffer;
  /** B (out, R). */
  b: GPUBuffer;
}

/** An adapter applied unmerged: y = W·x + scale·B·(A·x). */
export interface ProjectionAdapter {
  /** Rank R. */
  readonly rank: number;
  /** Scale s (alpha/r, or alpha/√r with rsLoRA). */
  readonly scale: number;
  /** The pair for a projection, or undefined when it is not adapted. */
  pair(layer: number, projection: Projection): LoraPair | undefined;
}
