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
import type { SafetensorsEntry } from "../format/safetensors.ts";
import { type Projection, PROJECTIONS, projectionWeightName } from "./names.ts";

/** The weights of one decoder layer. */
export interface LayerWeights {
  /** RMSNorm before attention (D). */
  inputNorm: GpuTensor;
  /** RMSNorm before the MLP (D). */
  postAttentionNorm: GpuTensor;
  /** The seven projections, each (out, in). */
  projections: Record<Projection, GpuTensor>;
}

/** All weights of a Llama on the GPU. */
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
  const upload = (name: string): GpuTensor => {
    const entry = tensors.get(name);
    if (!entry) throw new Error(`Missing tensor ${name}`);
    const tensor = GpuTensor.create(gpu, {
      shape: entry.shape,
      dtype: gpuDtypeOf(entry),
      label: name,
      category: "weights",
    });
    tensor.write(entry.bytes);
    staged += entry.bytes.byteLength;
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
    layers.push({
      inputNorm: upload(`model.layers.${l}.input_layernorm.weight`),
      postAttentionNorm: upload(`model.layers.${l}.post_attention_layernorm.weight`),
      projections,
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
  }
  weights.finalNorm.destroy();
  weights.lmHead.destroy();
}
