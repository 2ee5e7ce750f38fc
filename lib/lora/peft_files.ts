/**
 * PEFT adapter folders: `adapter_config.json` + `adapter_model.safetensors` (header
 * `__metadata__ {"format":"pt"}`), read and written exactly in PEFT's layout.
 *
 * @module
 */
import type { ModelConfig } from "../model/config.ts";
import { familySpec } from "../model/architecture.ts";
import { type ModelSource, readJson } from "../format/model_source.ts";
import {
  entryToF32,
  f32Entry,
  parseSafetensors,
  serializeSafetensors,
} from "../format/safetensors.ts";
import { peftAdapterConfig } from "./lora_config.ts";
import { parsePeftAdapterConfig } from "./peft_config.ts";
import { adapterModelCard } from "./model_card.ts";
import {
  checkLoraTensors,
  checkLoraValues,
  loraTensorShapes,
  type LoraWeights,
} from "./lora_weights.ts";

/** File name of the adapter config. */
export const ADAPTER_CONFIG = "adapter_config.json";
/** File name of the adapter weights. */
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";
/** File name of the model card. */
export const MODEL_CARD = "README.md";
/** The pickled weights file older PEFT versions wrote, which this engine does not read. */
const PICKLED_WEIGHTS = "adapter_model.bin";

/**
 * The files of a PEFT adapter (name → bytes): config, tensors in f32, and the model card
 * (`README.md`, whose `base_model` is `baseModel` when that is a hub id).
 *
 * @example
 * ```ts
 * const files = serializePeftAdapter(result.adapter, model.config, "LLM-Research/Llama-3.2-1B");
 * await writeModelFiles("./lora_output", files); // adapter_config.json, adapter_model.safetensors, README.md
 * ```
 */
export function serializePeftAdapter(
  adapter: LoraWeights,
  model: ModelConfig,
  baseModel: string,
): Map<string, Uint8Array> {
  const entries = [...loraTensorShapes(model, adapter.config)].map(([key, shape]) => {
    const values = adapter.tensors.get(key);
    if (!values) throw new Error(`Adapter is missing ${key}`);
    return f32Entry(key, shape, values);
  });
  const config = JSON.stringify(peftAdapterConfig(adapter.config, baseModel), null, 2) + "\n";
  return new Map([
    [ADAPTER_CONFIG, new TextEncoder().encode(config)],
    [ADAPTER_WEIGHTS, serializeSafetensors(entries, { format: "pt" })],
    [MODEL_CARD, new TextEncoder().encode(adapterModelCard(adapter.config, baseModel))],
  ]);
}

/**
 * Reads a PEFT adapter and checks every name and shape against `model`, reporting all
 * mismatches together. Weights in F16 or BF16 are widened to f32.
 *
 * @example
 * ```ts
 * const adapter = await readPeftAdapter(dirModelSource("./lora_output"), model.config);
 * model.addAdapter("mine", adapter);
 * ```
 */
export async function readPeftAdapter(
  source: ModelSource,
  model: ModelConfig,
): Promise<LoraWeights> {
  const where = JSON.stringify(source.name);
  const config = parsePeftAdapterConfig(
    await readJson(source, ADAPTER_CONFIG),
    model.numLayers,
    `${ADAPTER_CONFIG} of ${where}`,
    familySpec(model.family).peftTargetModules,
  );
  if (!(await source.has(ADAPTER_WEIGHTS)) && await source.has(PICKLED_WEIGHTS)) {
    throw new Error(
      `Adapter ${where} has only ${PICKLED_WEIGHTS}: .bin adapters are not supported (they are ` +
        `Python pickles); convert it to ${ADAPTER_WEIGHTS}, e.g. by loading it with PEFT and ` +
        `calling save_pretrained(dir, safe_serialization=True)`,
    );
  }
  const file = parseSafetensors(
    await source.read(ADAPTER_WEIGHTS),
    `${source.name}/${ADAPTER_WEIGHTS}`,
  );
  checkLoraTensors(model, config, file.tensors, where);
  const tensors = new Map<string, Float32Array>();
  for (const [key, entry] of file.tensors) tensors.set(key, entryToF32(entry));
  checkLoraValues(tensors, where);
  return { config, tensors };
}
