/**
 * A LoRA adapter resident on the GPU (f32), applied unmerged by the model:
 * y = W·x + s·B·(A·x). Switching adapters never reloads the base weights.
 *
 * Dimensions: R rank, in/out the projection's features.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { GpuTensor } from "../gpu/tensor.ts";
import type { ModelConfig } from "../model/config.ts";
import type { LoraPair, ProjectionAdapter } from "./projection_adapter.ts";
import { loraKey, type Projection } from "../model/names.ts";
import { adaptedLayers, loraScaleOf } from "./lora_config.ts";
import { loraTensorShapes, type LoraWeights } from "./lora_weights.ts";

/** The A and B tensors of one adapted projection. */
export interface LoraTensors {
  /** A (R, in). */
  a: GpuTensor;
  /** B (out, R). */
  b: GpuTensor;
}

/** An adapter's matrices on the GPU, keyed by (layer, projection). */
export class GpuLoraAdapter implements ProjectionAdapter {
  /** Rank R. */
  readonly rank: number;
  /** Scale s. */
  readonly scale: number;
  /** The host-side description it was created from (config only; values live on the GPU). */
  readonly weights: LoraWeights;
  readonly #tensors = new Map<string, LoraTensors>();
  readonly #model: ModelConfig;

  /** Uploads `weights` for `model`. */
  constructor(gpu: Gpu, model: ModelConfig, weights: LoraWeights) {
    this.#model = model;
    this.weights = weights;
    this.rank = weights.config.r;
    this.scale = loraScaleOf(weights.config);
    const shapes = loraTensorShapes(model, weights.config);
    for (const l of adaptedLayers(weights.config, model.numLayers)) {
      for (const p of weights.config.targetModules) {
        const upload = (matrix: "A" | "B") => {
          const key = loraKey(l, p, matrix);
          const tensor = GpuTensor.create(gpu, {
            shape: shapes.get(key)!,
            dtype: "f32",
            label: key,
            category: "lora",
          });
          const values = weights.tensors.get(key);
          if (!values) throw new Error(`Adapter is missing ${key}`);
          tensor.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
          return tensor;
        };
        this.#tensors.set(`${l}.${p}`, { a: upload("A"), b: upload("B") });
      }
    }
  }

  /** The tensors of a projection, or undefined when it is not adapted. */
  tensors(layer: number, projection: Projection): LoraTensors | undefined {
    return this.#tensors.get(`${layer}.${projection}`);
  }

  /** The buffers the model binds for a projection. */
  pair(layer: number, projection: Projection): LoraPair | undefined {
    const t = this.tensors(layer, projection);
    return t && { a: t.a.buffer, b: t.b.buffer };
  }

  /** Every adapted (layer, projection) with its tensors, in layer order. */
  *entries(): Generator<[number, Projection, LoraTensors]> {
    for (const l of adaptedLayers(this.weights.config, this.#model.numLayers)) {
      for (const p of this.weights.config.targetModules) yield [l, p, this.tensors(l, p)!];
    }
  }

  /** Frees the GPU tensors. */
  destroy(): void {
    for (const { a, b } of this.#tensors.values()) {
      a.destroy();
      b.destroy();
    }
    this.#tensors.clear();
  }
}
