/**
 * The tensors a model's config implies: each projection's shape, and the name and shape of
 * every weight of its checkpoint, with the family's biases and q/k norms.
 *
 * Dimensions: L layers, D hidden, I intermediate, H heads, KV kv heads, HD head dim, V vocab.
 *
 * @module
 */
import type { ModelConfig } from "./config.ts";
import { type Projection, PROJECTIONS, projectionWeightName } from "./names.ts";
import { shapeSize } from "../format/safetensors.ts";

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

/**
 * The name and shape of every weight a checkpoint with this config holds, in model order:
 * embeddings, then per layer the attention norm, q/k/v/o (with the family's biases and q/k
 * norms), the MLP norm and gate/up/down, then the final norm and (unless tied) the LM head.
 * Shapes are PyTorch's (out, in) for linears.
 */
export function modelTensorShapes(config: ModelConfig): Map<string, number[]> {
  const d = config.hiddenSize;
  const shapes = new Map<string, number[]>();
  shapes.set("model.embed_tokens.weight", [config.vocabSize, d]); // (V, D)
  for (let l = 0; l < config.numLayers; l++) {
    shapes.set(`model.layers.${l}.input_layernorm.weight`, [d]); // (D)
    for (const p of PROJECTIONS) {
      // The MLP norm (D) sits between the attention projections and the MLP ones.
      if (p === "gate_proj") shapes.set(`model.layers.${l}.post_attention_layernorm.weight`, [d]);
      const weight = projectionWeightName(l, p), [out] = projectionShape(config, p);
      shapes.set(weight, projectionShape(config, p)); // (out, in)
      if (config.biasedProjections.includes(p)) {
        shapes.set(weight.replace(/weight$/, "bias"), [out]); // (out)
      }
    }
    if (config.qkNorm) {
      shapes.set(`model.layers.${l}.self_attn.q_norm.weight`, [config.headDim]); // (HD)
      shapes.set(`model.layers.${l}.self_attn.k_norm.weight`, [config.headDim]); // (HD)
    }
  }
  shapes.set("model.norm.weight", [d]); // (D)
  if (!config.tieWordEmbeddings) shapes.set("lm_head.weight", [config.vocabSize, d]); // (V, D)
  return shapes;
}

/**
 * The number of parameters of the model (tied embeddings counted once).
 *
 * @example
 * ```ts
 * const config = parseModelConfig(JSON.parse(await Deno.readTextFile("config.json")));
 * modelParameterCount(config); // 1235814400 for Llama-3.2-1B
 * ```
 */
export function modelParameterCount(config: ModelConfig): number {
  let n = 0;
  for (const shape of modelTensorShapes(config).values()) n += shapeSize(shape);
  return n;
}

/** In and out features of a projection (`projectionShape` as named fields). */
export function projectionFeatures(
  config: ModelConfig,
  projection: Projection,
): { inFeatures: number; outFeatures: number } {
  const [outFeatures, inFeatures] = projectionShape(config, projection);
  return { inFeatures, outFeatures };
}
