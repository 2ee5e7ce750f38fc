/**
 * Writing a merged model folder (the thin Deno layer): tensor by tensor into a temporary folder
 * that then replaces the output whole, so the merged model is never held in memory.
 *
 * @module
 */
import { join } from "node:path";
import type { Checkpoint } from "../format/checkpoint.ts";
import { replaceFolderAtomic } from "../format/folder_atomic.ts";
import { writeAll, writeModelFiles } from "../format/fs_model_source.ts";
import type { ModelSource } from "../format/model_source.ts";
import type { LoraWeights } from "./lora_weights.ts";
import { mergedSideFiles, mergedWeightFiles } from "./merge.ts";

/** Options of {@linkcode writeMergedModel}. */
export interface WriteMergedOptions {
  /** Largest shard in bytes (transformers' `max_shard_size`); default 5 GB (5e9). */
  maxShardBytes?: number;
  /** Extra files to write too, e.g. a model card. */
  extraFiles?: Map<string, Uint8Array>;
}

/**
 * Merges `adapter` into `checkpoint` and writes the folder `out` (replaced atomically):
 * config.json, the weights as one file or shards with an index, and `source`'s tokenizer and
 * generation files. Returns the files written with their sizes.
 *
 * @example
 * ```ts
 * const files = await writeMergedModel("./merged", checkpoint, adapter, dirModelSource(dir));
 * files.map((f) => f.path); // ["config.json", ..., "model.safetensors"]
 * ```
 */
export async function writeMergedModel(
  out: string,
  checkpoint: Checkpoint,
  adapter: LoraWeights,
  source: ModelSource,
  options: WriteMergedOptions = {},
): Promise<{ path: string; size: number }[]> {
  const written: { path: string; size: number }[] = [];
  await replaceFolderAtomic(out, async (temp) => {
    const side = new Map([
      ...await mergedSideFiles(checkpoint, source),
      ...options.extraFiles ?? [],
    ]);
    await writeModelFiles(temp, side);
    for (const [path, bytes] of side) written.push({ path, size: bytes.length });
    for (const file of mergedWeightFiles(checkpoint, adapter, options.maxShardBytes ?? 5e9)) {
      using handle = await Deno.open(join(temp, file.path), { write: true, createNew: true });
      for (const part of file.parts()) await writeAll(handle, part);
      written.push({ path: file.path, size: file.size });
    }
  });
  return written;
}
