/**
 * Merging an adapter into the base weights (PEFT's `merge_and_unload`): W' = W + s·B·A,
 * computed in f32 and stored back in the base dtype, and the export of the merged model as a
 * Hugging Face folder that `loadModel` and transformers load. The weights come out shard by
 * shard (transformers' `max_shard_size`), each tensor merged only when it is written, so a
 * writer holds one tensor at a time beside the base model.
 *
 * Dimensions: R rank, in/out the projection's features.
 *
 * @module
 */
import { type Checkpoint, SAFETENSORS_INDEX } from "../format/checkpoint.ts";
import type { ModelSource } from "../format/model_source.ts";
import { loraKey, type Projection, projectionWeightName } from "../model/names.ts";
import { dtypeBytes } from "../format/dtype.ts";
import {
  entryToF32,
  f32Entry,
  type SafetensorsEntry,
  safetensorsHeader,
  shapeSize,
} from "../format/safetensors.ts";
import { TOKENIZER_FILES } from "../text/tokenizer_files.ts";
import { adaptedLayers, loraScaleOf } from "./lora_config.ts";
import type { LoraWeights } from "./lora_weights.ts";

/** The weights file of an unsharded model. */
const SINGLE = "model.safetensors";

/** Checkpoint name → (layer, projection) of every projection `adapter` adapts. */
function adaptedWeights(checkpoint: Checkpoint, adapter: LoraWeights) {
  const adapted = new Map<string, [number, Projection]>();
  for (const l of adaptedLayers(adapter.config, checkpoint.config.numLayers)) {
    for (const p of adapter.config.targetModules) adapted.set(projectionWeightName(l, p), [l, p]);
  }
  return adapted;
}

/** W + s·B·A of one projection, in f32. */
function mergedValues(
  base: SafetensorsEntry,
  adapter: LoraWeights,
  layer: number,
  projection: Projection,
): Float32Array {
  const s = loraScaleOf(adapter.config), R = adapter.config.r;
  const [out, inp] = base.shape;
  const w = entryToF32(base); // (out, in)
  const a = adapter.tensors.get(loraKey(layer, projection, "A"))!; // (R, in)
  const b = adapter.tensors.get(loraKey(layer, projection, "B"))!; // (out, R)
  for (let o = 0; o < out; o++) {
    const row = o * inp;
    for (let r = 0; r < R; r++) {
      const coef = s * b[o * R + r];
      if (coef === 0) continue;
      const ar = r * inp;
      for (let i = 0; i < inp; i++) w[row + i] += coef * a[ar + i];
    }
  }
  return w;
}

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
  for (const [name, [l, p]] of adaptedWeights(checkpoint, adapter)) {
    const base = checkpoint.tensors.get(name)!;
    merged.set(name, f32Entry(name, base.shape, mergedValues(base, adapter, l, p), base.dtype));
  }
  return merged;
}

/** One file of a merged model's weights, produced piece by piece. */
export interface MergedFile {
  /** Its name in the model folder. */
  path: string;
  /** Its length in bytes. */
  size: number;
  /** Its bytes in order (the header, then one tensor at a time), each made when reached. */
  parts(): Generator<Uint8Array>;
}

/**
 * A merged file's bytes in one buffer.
 *
 * @example
 * ```ts
 * const [weights] = mergedWeightFiles(checkpoint, adapter);
 * parseSafetensors(mergedFileBytes(weights), weights.path);
 * ```
 */
export function mergedFileBytes(file: MergedFile): Uint8Array {
  const bytes = new Uint8Array(file.size);
  let offset = 0;
  for (const part of file.parts()) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/** The checkpoint's tensors grouped into shards of at most `maxShardBytes` (a bigger tensor alone). */
function planShards(checkpoint: Checkpoint, maxShardBytes: number): SafetensorsEntry[][] {
  const shards: SafetensorsEntry[][] = [];
  let current: SafetensorsEntry[] = [], size = 0;
  for (const entry of checkpoint.tensors.values()) {
    const bytes = shapeSize(entry.shape) * dtypeBytes(entry.dtype);
    if (current.length > 0 && size + bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += bytes;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/**
 * The merged model's weight files: one `model.safetensors`, or (past `maxShardBytes`)
 * transformers' shards `model-0000i-of-0000n.safetensors` then `model.safetensors.index.json`.
 * Tensors keep the base's order and dtype; files have header `{"format":"pt"}`. Each tensor is
 * merged only when its part is reached, so a writer holds one tensor at a time.
 *
 * @example
 * ```ts
 * for (const file of mergedWeightFiles(checkpoint, adapter, 5e9)) {
 *   using out = await Deno.open(`./merged/${file.path}`, { write: true, create: true });
 *   for (const part of file.parts()) await out.write(part); // one tensor in memory at a time
 * }
 * ```
 */
export function mergedWeightFiles(
  checkpoint: Checkpoint,
  adapter: LoraWeights,
  maxShardBytes = Infinity,
): MergedFile[] {
  const adapted = adaptedWeights(checkpoint, adapter);
  const shards = planShards(checkpoint, maxShardBytes);
  const n = shards.length;
  const weightMap: Record<string, string> = {};
  const files: MergedFile[] = shards.map((specs, i) => {
    const path = n === 1
      ? SINGLE
      : `model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
    const { header, spans } = safetensorsHeader(specs, { format: "pt" });
    for (const { name } of specs) weightMap[name] = path;
    return {
      path,
      size: header.length + spans[spans.length - 1],
      *parts() {
        yield header;
        for (const base of specs) {
          const at = adapted.get(base.name);
          yield at === undefined
            ? base.bytes
            : f32Entry(base.name, base.shape, mergedValues(base, adapter, ...at), base.dtype).bytes;
        }
      },
    };
  });
  if (n > 1) {
    const totalSize = [...checkpoint.tensors.values()].reduce((sum, e) => sum + e.bytes.length, 0);
    const index = { metadata: { total_size: totalSize }, weight_map: weightMap };
    const bytes = new TextEncoder().encode(JSON.stringify(index, null, 2) + "\n");
    files.push({
      path: SAFETENSORS_INDEX,
      size: bytes.length,
      *parts() {
        yield bytes;
      },
    });
  }
  return files;
}

/**
 * The files of a merged model folder besides its weights: config.json, and the tokenizer, chat
 * template and generation files of `source`.
 */
export async function mergedSideFiles(
  checkpoint: Checkpoint,
  source: ModelSource,
): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  files.set(
    "config.json",
    new TextEncoder().encode(JSON.stringify(checkpoint.config.raw, null, 2) + "\n"),
  );
  for (const name of TOKENIZER_FILES) {
    if (await source.has(name)) files.set(name, await source.read(name));
  }
  return files;
}

/**
 * The files of a merged model folder, in memory: config.json, model.safetensors (base dtype,
 * header `{"format":"pt"}`) and the tokenizer and generation files of `source`. For big models
 * write {@linkcode mergedWeightFiles} shard by shard instead.
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
  const files = await mergedSideFiles(checkpoint, source);
  for (const file of mergedWeightFiles(checkpoint, adapter)) {
    files.set(file.path, mergedFileBytes(file));
  }
  return files;
}
