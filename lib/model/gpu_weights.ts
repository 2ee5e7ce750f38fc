/**
 * Uploads a checkpoint's weights to the GPU in their stored precision (bf16 and f16 stay two
 * bytes a parameter, packed two per word; f32 stays f32). Tensors above the binding limit are
 * split into row chunks. A tied model's LM head is the embedding tensor itself.
 *
 * Dimensions: V vocab, D hidden, L layers.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { type GpuDType, GpuTensor } from "../gpu/tensor.ts";
import type { ModelConfig } from "./config.ts";
import { entryToF32, type SafetensorsEntry } from "../format/safetensors.ts";
import { type Projection, PROJECTIONS, projectionWeightName } from "./names.ts";

/** The weights of one decoder layer. */
export interface LayerWeights {
  /** RMSNorm before attention (D). */
  inputNorm: GpuTensor;
  /** RMSNorm before the MLP (D). */
  postAttentionNorm: GpuTensor;
  /** The seven projections, each (out, in). */
  projections: Record<Projection, GpuTensor>;
  /** The biases (out), f32, of the projections that have one (Qwen2: q, k, v). */
  biases: Partial<Record<Projection, GpuTensor>>;
  /** The per-head RMSNorm weights of q and k (HD each), or null (Qwen3 has them). */
  qkNorm: { q: GpuTensor; k: GpuTensor } | null;
}

/** All weights of a model on the GPU. */
export interface GpuWeights {
  /** Token embedding (V, D). */
  embed: GpuTensor;
  /** Decoder layers (L). */
  layers: LayerWeights[];
  /** Final RMSNorm (D). */
  finalNorm: GpuTensor;
  /** LM head (V, D): the embedding when tied. */
  lmHead: GpuTensor;
}

const STAGING_FLUSH_BYTES = 256 * 1024 * 1024;

/** The GPU dtype a checkpoint dtype is kept in. */
function gpuDtypeOf(entry: SafetensorsEntry): GpuDType {
  switch (entry.dtype) {
    case "F32":
      return "f32";
    case "BF16":
      return "bf16";
    case "F16":
      return "f16";
  }
}

/** Uploads every weight the config needs; `tensors` must already be validated by name and shape. */
export function uploadWeights(
  gpu: Gpu,
  config: ModelConfig,
  tensors: Map<string, SafetensorsEntry>,
): GpuWeights {
  let staged = 0;
  const upload = (name: string, asF32 = false): GpuTensor => {
    const entry = tensors.get(name);
    if (!entry) throw new Error(`Missing tensor ${name}`);
    const tensor = GpuTensor.create(gpu, {
      shape: entry.shape,
      dtype: asF32 ? "f32" : gpuDtypeOf(entry),
      label: name,
      category: "weights",
    });
    const bytes = asF32 ? new Uint8Array(entryToF32(entry).buffer) : entry.bytes;
    tensor.write(bytes);
    staged += bytes.byteLength;
    if (staged > STAGING_FLUSH_BYTES) {
      gpu.device.queue.submit([]); // releases writeBuffer staging memory
      staged = 0;
    }
    return tensor;
  };
  const embed = upload("model.embed_tokens.weight");
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const projections = {} as Record<Projection, GpuTensor>;
    for (const p of PROJECTIONS) projections[p] = upload(projectionWeightName(l, p));
    const biases: LayerWeights["biases"] = {};
    for (const p of config.biasedProjections) {
      biases[p] = upload(projectionWeightName(l, p).replace(/weight$/, "bias"), true); // (out) f32
    }
    const attn = `model.layers.${l}.self_attn`;
    layers.push({
      inputNorm: upload(`model.layers.${l}.input_layernorm.weight`),
      postAttentionNorm: upload(`model.layers.${l}.post_attention_layernorm.weight`),
      projections,
      biases,
      qkNorm: config.qkNorm
        ? { q: upload(`${attn}.q_norm.weight`), k: upload(`${attn}.k_norm.weight`) }
        : null,
    });
  }
  const finalNorm = upload("model.norm.weight");
  const lmHead = config.tieWordEmbeddings ? embed : upload("lm_head.weight");
  gpu.device.queue.submit([]);
  return { embed, layers, finalNorm, lmHead };
}

/** Frees every weight buffer. */
export function destroyWeights(weights: GpuWeights): void {
  weights.embed.destroy();
  for (const layer of weights.layers) {
    layer.inputNorm.destroy();
    layer.postAttentionNorm.destroy();
    for (const p of PROJECTIONS) layer.projections[p].destroy();
    for (const bias of Object.values(layer.biases)) bias.destroy();
    layer.qkNorm?.q.destroy();
    layer.qkNorm?.k.destroy();
  }
  weights.finalNorm.destroy();
  weights.lmHead.destroy();
}
