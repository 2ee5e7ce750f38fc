/**
 * The arithmetic of a model's products, for the benchmarks that turn GPU time into GFLOP/s or
 * compare phases against their FLOP bounds (`profile.ts`, `_batched_decode.ts`).
 *
 * @module
 */
import type { ModelConfig } from "../lib/model/config.ts";
import { PROJECTIONS } from "../lib/model/names.ts";
import { projectionFeatures } from "../lib/model/shapes.ts";

/** MFLOP a token of the forward's products: the layers' projections and the LM head. */
export function forwardMflop(config: ModelConfig): { layers: number; head: number } {
  const perLayer = PROJECTIONS.reduce((sum, p) => {
    const { inFeatures, outFeatures } = projectionFeatures(config, p);
    return sum + inFeatures * outFeatures;
  }, 0);
  return {
    layers: (2 * config.numLayers * perLayer) / 1e6,
    head: (2 * config.vocabSize * config.hiddenSize) / 1e6,
  };
}
