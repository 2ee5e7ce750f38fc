/**
 * Checkpoint tensor names of a Hugging Face Llama and the seven projections LoRA can adapt.
 *
 * @module
 */

/**
 * The projections of a Llama layer, in PEFT's `target_modules` spelling.
 *
 * @example
 * ```ts
 * resolveLoraConfig({ targetModules: [...PROJECTIONS] }); // the same as "all-linear"
 * ```
 */
export const PROJECTIONS = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
] as const;

/** One of the seven projections. */
export type Projection = typeof PROJECTIONS[number];

const MLP_PROJECTIONS = new Set<Projection>(["gate_proj", "up_proj", "down_proj"]);

/** The checkpoint name of layer `layer`'s `projection` weight. */
export function projectionWeightName(layer: number, projection: Projection): string {
  const block = MLP_PROJECTIONS.has(projection) ? "mlp" : "self_attn";
  return `model.layers.${layer}.${block}.${projection}.weight`;
}

/** The PEFT key of a LoRA matrix (`A` is (R, in), `B` is (out, R)). */
export function loraKey(layer: number, projection: Projection, matrix: "A" | "B"): string {
  const base = projectionWeightName(layer, projection).replace(/\.weight$/, "");
  return `base_model.model.${base}.lora_${matrix}.weight`;
}
