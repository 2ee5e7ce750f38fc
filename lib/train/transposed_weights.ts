/**
 * Transposed copies of frozen weights for the backward pass. The backward's dx = dy·W reads a
 * Linear weight W (out, in) as (K, N), which CPU adapters such as lavapipe run several times
 * slower than the forward's x·Wᵀ reading W as (N, K) (README.md, "Where a training step's time
 * goes"). A copy Wᵀ (in, out), made once on the GPU when training starts (the weights are
 * frozen), lets dy·W run as the forward's product. The copies cost the weights' bytes again, so
 * they are made for as many weights as fit in a byte cap, the LM head first (its backward
 * product is the step's largest), then the layers' projections in layer order; the memory
 * estimate counts the same plan (`estimateTraining`).
 *
 * Dimensions: V vocab, D hidden, L layers; a weight chunk of rows r and K columns is copied to
 * (K, r).
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { gpuDTypeBytes, GpuTensor } from "../gpu/tensor.ts";
import type { ModelConfig } from "../model/config.ts";
import type { GpuWeights } from "../model/gpu_weights.ts";
import { PROJECTIONS, projectionWeightName } from "../model/names.ts";
import { projectionShape } from "../model/shapes.ts";
import { recordTranspose } from "../ops/transpose.ts";

/**
 * Default cap on the bytes of transposed weight copies: 1 GiB holds every copy of an 8-layer,
 * hidden-1024 model with Llama 3's vocabulary (422 MiB in bf16), and the LM head and the first
 * layers of Llama-3.2-1B.
 */
export const TRANSPOSED_WEIGHTS_BYTES = 1 << 30;

/** The name the plan gives the LM head, tied to the embedding or not. */
export const LM_HEAD = "lm_head.weight";

/** The weights a cap allows copies of, and their bytes. */
export interface TransposedWeightsPlan {
  /** Checkpoint names of the weights copied ({@linkcode LM_HEAD} for the LM head). */
  names: string[];
  /** Bytes of the copies. */
  bytes: number;
}

/**
 * Which weights of a model whose weights are `elementBytes` wide get a transposed copy within
 * `capBytes`: the LM head, then each layer's projections, as long as each fits what is left.
 */
export function planTransposedWeights(
  config: ModelConfig,
  elementBytes: number,
  capBytes: number,
): TransposedWeightsPlan {
  const candidates: [string, number][] = [[LM_HEAD, config.vocabSize * config.hiddenSize]];
  for (let l = 0; l < config.numLayers; l++) {
    for (const p of PROJECTIONS) {
      const [out, inp] = projectionShape(config, p);
      candidates.push([projectionWeightName(l, p), out * inp]);
    }
  }
  const plan: TransposedWeightsPlan = { names: [], bytes: 0 };
  for (const [name, elements] of candidates) {
    const bytes = elements * elementBytes;
    if (plan.bytes + bytes > capBytes) continue;
    plan.names.push(name);
    plan.bytes += bytes;
  }
  return plan;
}

/**
 * The transposed copies of a model's weights, by weight: copy i of a weight is its chunk i
 * transposed, (K, rows of chunk i), in the weight's dtype.
 *
 * @example
 * ```ts
 * const copies = TransposedWeights.create(rec, config, weights, TRANSPOSED_WEIGHTS_BYTES);
 * recordLinearBackward(rec, dy, dx, { weight: w, rows, transposed: copies.of(w) });
 * copies.destroy();
 * ```
 */
export class TransposedWeights {
  readonly #copies: Map<GpuTensor, GpuTensor[]>;

  private constructor(copies: Map<GpuTensor, GpuTensor[]>) {
    this.#copies = copies;
  }

  /**
   * Allocates the copies {@linkcode planTransposedWeights} allows within `capBytes`, and records
   * their transpositions on `rec` and submits them; passes recorded after this read them.
   */
  static create(
    rec: CommandRecorder,
    config: ModelConfig,
    weights: GpuWeights,
    capBytes: number,
  ): TransposedWeights {
    const gpu = rec.gpu;
    const byName = new Map<string, GpuTensor>([[LM_HEAD, weights.lmHead]]);
    weights.layers.forEach((layer, l) => {
      for (const p of PROJECTIONS) byName.set(projectionWeightName(l, p), layer.projections[p]);
    });
    const elementBytes = gpuDTypeBytes(weights.lmHead.dtype);
    const copies = new Map<GpuTensor, GpuTensor[]>();
    for (const name of planTransposedWeights(config, elementBytes, capBytes).names) {
      const weight = byName.get(name)!, K = weight.shape[1];
      copies.set(
        weight,
        weight.chunks.map((chunk, i) => {
          const copy = GpuTensor.create(gpu, {
            shape: [K, chunk.rows], // (K, rows of the chunk)
            dtype: weight.dtype,
            label: `${weight.label}ᵀ#${i}`,
            category: "weights",
          });
          const dst = copy.chunks[0].buffer;
          const { dtype } = weight;
          recordTranspose(rec, { src: chunk.buffer, dst, rows: chunk.rows, cols: K, dtype });
          return copy;
        }),
      );
    }
    rec.submit();
    return new TransposedWeights(copies);
  }

  /** The copies of `weight`, one per chunk, or undefined when it has none. */
  of(weight: GpuTensor): readonly GpuTensor[] | undefined {
    return this.#copies.get(weight);
  }

  /**
   * The buffers of the copies of `weight`, or of every copy (a profile tells the backward's
   * products by them).
   */
  buffers(weight?: GpuTensor): GPUBuffer[] {
    const copies = weight ? this.#copies.get(weight) ?? [] : [...this.#copies.values()].flat();
    return copies.map((copy) => copy.chunks[0].buffer);
  }

  /** Frees the copies (the weights belong to the caller). */
  destroy(): void {
    for (const copies of this.#copies.values()) for (const copy of copies) copy.destroy();
    this.#copies.clear();
  }
}
