/**
 * Resolves and validates the inputs of the reference Llama: Hugging Face weights by name and a
 * PEFT LoRA adapter by key, gathered into one structure with every shape checked. All problems
 * are reported together in one error.
 *
 * Dimensions: L layers, D hidden, I intermediate, H heads, KV kv heads, HD head dim, V vocab,
 * R lora rank; a linear layer maps IN features to OUT features.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { modelTensorShapes } from "../model/shapes.ts";
import { loraKey, type Projection, PROJECTIONS, projectionWeightName } from "../model/names.ts";
import { shapeSize } from "../format/safetensors.ts";
import type { FloatArray } from "./_array.ts";

/** Base model weights by Hugging Face name, row-major values. */
export interface ReferenceWeights<A extends FloatArray = Float32Array> {
  /** The tensor called `name` (e.g. `model.layers.0.self_attn.q_proj.weight`), or undefined. */
  get(name: string): A | undefined;
}

/**
 * A LoRA adapter: PEFT keys such as `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`
 * mapped to values, lora_A (R, IN) and lora_B (OUT, R). A module is adapted iff its lora_A
 * key is present.
 */
export interface ReferenceLora<A extends FloatArray = Float32Array> {
  /** s in y += s·B·(A·x): alpha / r, or alpha / √r with rsLoRA. */
  scale: number;
  /** The adapter matrices by PEFT key. */
  tensors: Map<string, A>;
}

/** The LoRA matrices of one adapted linear layer. */
export interface LoraPair<A extends FloatArray> {
  /** lora_A. (R, IN) */
  a: A;
  /** lora_B. (OUT, R) */
  b: A;
  /** R, the rank. */
  r: number;
  /** The PEFT key of lora_A. */
  keyA: string;
  /** The PEFT key of lora_B. */
  keyB: string;
}

/** A frozen linear layer, maybe with a LoRA branch. */
export interface ReferenceLinear<A extends FloatArray> {
  /** The frozen weight. (OUT, IN) */
  w: A;
  /** IN, the input features. */
  inFeatures: number;
  /** OUT, the output features. */
  outFeatures: number;
  /** The frozen bias (OUT), or null when the family has none here. */
  bias: A | null;
  /** The adapter's matrices, or null when this layer is not adapted. */
  lora: LoraPair<A> | null;
}

/** One decoder layer's weights. */
export interface ReferenceLayer<A extends FloatArray> {
  /** `input_layernorm.weight`. (D) */
  attnNorm: A;
  /** `post_attention_layernorm.weight`. (D) */
  mlpNorm: A;
  /** `self_attn.q_norm.weight` (HD), the per-head RMSNorm of q, or null (not Qwen3). */
  qNorm: A | null;
  /** `self_attn.k_norm.weight` (HD), the per-head RMSNorm of k, or null (not Qwen3). */
  kNorm: A | null;
  /** The seven projections. */
  proj: Record<Projection, ReferenceLinear<A>>;
}

/** Every weight of the reference model, resolved and checked. */
export interface ReferenceModel<A extends FloatArray> {
  /** `model.embed_tokens.weight`. (V, D) */
  embed: A;
  /** The decoder layers. (L) */
  layers: ReferenceLayer<A>[];
  /** `model.norm.weight`. (D) */
  norm: A;
  /** `lm_head.weight`, or the embedding when tied. (V, D) */
  lmHead: A;
  /** The LoRA scale s (0 without an adapter). */
  loraScale: number;
}

/**
 * Looks up and checks every base weight the config implies and every adapter matrix; throws
 * one error listing all missing tensors, wrong sizes and unknown or unpaired adapter keys.
 */
export function resolveReferenceModel<A extends FloatArray>(
  config: ModelConfig,
  weights: ReferenceWeights<A>,
  lora?: ReferenceLora<A>,
): ReferenceModel<A> {
  const problems: string[] = [];
  const shapes = modelTensorShapes(config);
  const base = (name: string): A => {
    const shape = shapes.get(name)!;
    const value = weights.get(name);
    const size = shapeSize(shape);
    if (value === undefined) problems.push(`weight ${name} is missing`);
    else if (value.length !== size) {
      problems.push(`weight ${name} has ${value.length} elements, expected ${size} (${shape})`);
    }
    return value ?? (new Float32Array(0) as A);
  };
  const adapterKeys = new Set(lora?.tensors.keys());
  const pair = (layer: number, projection: Projection, w: A, bias: A | null, shape: number[]) => {
    const [outFeatures, inFeatures] = shape;
    const keyA = loraKey(layer, projection, "A"), keyB = loraKey(layer, projection, "B");
    adapterKeys.delete(keyA);
    adapterKeys.delete(keyB);
    const a = lora?.tensors.get(keyA), b = lora?.tensors.get(keyB);
    let loraPair: LoraPair<A> | null = null;
    if (a === undefined) {
      if (b !== undefined) problems.push(`adapter has ${keyB} but not ${keyA}`);
    } else if (b === undefined) {
      problems.push(`adapter has ${keyA} but not ${keyB}`);
    } else {
      const r = a.length / inFeatures;
      if (!Number.isInteger(r) || r <= 0) {
        problems.push(`adapter ${keyA} has ${a.length} elements, not (R, ${inFeatures})`);
      } else if (b.length !== outFeatures * r) {
        problems.push(`adapter ${keyB} has ${b.length} elements, expected (${outFeatures}, ${r})`);
      } else loraPair = { a, b, r, keyA, keyB };
    }
    return { w, inFeatures, outFeatures, bias, lora: loraPair };
  };
  const layers: ReferenceLayer<A>[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const proj = {} as Record<Projection, ReferenceLinear<A>>;
    for (const p of PROJECTIONS) {
      const name = projectionWeightName(l, p);
      const bias = config.biasedProjections.includes(p)
        ? base(name.replace(/weight$/, "bias"))
        : null;
      proj[p] = pair(l, p, base(name), bias, shapes.get(name)!);
    }
    const attn = `model.layers.${l}.self_attn`;
    layers.push({
      attnNorm: base(`model.layers.${l}.input_layernorm.weight`),
      mlpNorm: base(`model.layers.${l}.post_attention_layernorm.weight`),
      qNorm: config.qkNorm ? base(`${attn}.q_norm.weight`) : null,
      kNorm: config.qkNorm ? base(`${attn}.k_norm.weight`) : null,
      proj,
    });
  }
  const embed = base("model.embed_tokens.weight");
  const model = {
    embed,
    layers,
    norm: base("model.norm.weight"),
    lmHead: config.tieWordEmbeddings ? embed : base("lm_head.weight"),
    loraScale: lora?.scale ?? 0,
  };
  for (const key of adapterKeys) {
    problems.push(`adapter key ${key} names no projection of the model`);
  }
  if (lora !== undefined && !Number.isFinite(lora.scale)) {
    problems.push(`LoRA scale ${lora.scale} is not finite`);
  }
  if (problems.length > 0) {
    throw new Error(`Reference model inputs are invalid: ${problems.join("; ")}`);
  }
  return model;
}
