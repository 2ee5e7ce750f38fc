/**
 * Merging an adapter into the base weights (PEFT's `merge_and_unload`): W' = W + s·B·A,
 * computed in f32 and stored back in the base dtype, and the export of the merged model as a
 * Hugging Face folder that `loadModel` and transformers load.
 *
 * Dimensions: R rank, in/out the projection's features.
 *
 * @module
 */
import type { Checkpoint } from "../format/checkpoint.ts";
import type { ModelSource } from "../format/model_source.ts";
import { loraKey, projectionWeightName } from "../model/names.ts";
import {
  entryToF32,
  f32Entry,
  type SafetensorsEntry,
  serializeSafetensors,
} from "../format/safetensors.ts";
import { TOKENIZER_FILES } from "../text/tokenizer_files.ts";
import { adaptedLayers, loraScaleOf } from "./lora_config.ts";
import type { LoraWeights } from "./lora_weights.ts";

/**
 * The checkpoint's tensors with every adapted projection replaced by W + s·B·A.
 *
 * @example
 * ```ts
 * const checkpoint = await readCheckpoint(dirModelSource(dir));
 * const merged = mergeAdapter(checkpoint, adapter); // tensors with W + s·B·A in the base dtype
 * ```
 */
export function mergeAdapter(
  checkpoint: Checkpoint,
  adapter: LoraWeights,
): Map<string, SafetensorsEntry> {
  const merged = new Map(checkpoint.tensors);
  const s = loraScaleOf(adapter.config), R = adapter.config.r;
  for (const l of adaptedLayers(adapter.config, checkpoint.config.numLayers)) {
    for (const p of adapter.config.targetModules) {
      const name = projectionWeightName(l, p);
      const base = checkpoint.tensors.get(name)!;
      const [out, inp] = base.shape;
      const w = entryToF32(base); // (out, in)
      const a = adapter.tensors.get(loraKey(l, p, "A"))!; // (R, in)
      const b = adapter.tensors.get(loraKey(l, p, "B"))!; // (out, R)
      for (let o = 0; o < out; o++) {
        const row = o * inp;
        for (let r = 0; r < R; r++) {
          const coef = s * b[o * R + r];
          if (coef === 0) continue;
          const ar = r * inp;
          for (let i = 0; i < inp; i++) w[row + i] += coef * a[ar + i];
        }
      }
      merged.set(name, f32Entry(name, base.shape, w, base.dtype));
    }
  }
  return merged;
}

/**
 * The files of a merged model folder: config.json, model.safetensors (base dtype, header
 * `{"format":"pt"}`) and the tokenizer and generation files of `source`.
 *
 * @example
 * ```ts
 * const files = await mergedModelFiles(checkpoint, adapter, dirModelSource(dir));
 * await writeFolderAtomic("./merged", files); // loads with loadModel and transformers
 * ```
 */
export async function mergedModelFiles(
  checkpoint: Checkpoint,
  adapter: LoraWeights,
  source: ModelSource,
): Promise<Map<string, Uint8Array>> {
  const merged = mergeAdapter(checkpoint, adapter);
  const files = new Map<string, Uint8Array>();
  files.set(
    "config.json",
    new TextEncoder().encode(JSON.stringify(checkpoint.config.raw, null, 2) + "\n"),
  );
  files.set("model.safetensors", serializeSafetensors([...merged.values()], { format: "pt" }));
  for (const name of TOKENIZER_FILES) {
    if (await source.has(name)) files.set(name, await source.read(name));
  }
  return files;
}
