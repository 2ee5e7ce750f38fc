/**
 * Shapes of a Llama's projections, from its config.
 *
 * Dimensions: D hidden, I intermediate, H heads, KV kv heads, HD head dim.
 *
 * @module
 */
import type { ModelConfig } from "./config.ts";
import type { Projection } from "./names.ts";

/** [out features, in features] of a projection. */
export function projectionShape(config: ModelConfig, projection: Projection): [number, number] {
  const D = config.hiddenSize, I = config.intermediateSize;
  const q = config.numHeads * config.headDim, kv = config.numKvHeads * config.headDim;
  switch (projection) {
    case "q_proj":
      return [q, D];
    case "k_proj":
    case "v_proj":
      return [kv, D];
    case "o_proj":
      return [D, q];
    case "gate_proj":
    case "up_proj":
      return [I, D];
    case "down_proj":
      return [D, I];
  }
}
