/**
 * Reading a Hugging Face Llama checkpoint from a {@linkcode ModelSource}: `config.json` plus
 * either `model.safetensors` or shards listed in `model.safetensors.index.json`, checked
 * against the tensor names and shapes the config implies.
 *
 * @module
 */
import { z } from "../deps.ts";
import { type ModelConfig, parseModelConfig } from "../model/config.ts";
import { modelTensorShapes } from "../model/shapes.ts";
import { type ModelSource, readJson } from "./model_source.ts";
import { parseSafetensors, type SafetensorsEntry } from "./safetensors.ts";

/** A loaded checkpoint. */
export interface Checkpoint {
  /** The validated config. */
  config: ModelConfig;
  /** Every tensor by name (views into the files' bytes), including extras the model ignores. */
  tensors: Map<string, SafetensorsEntry>;
  /** The files read, in order: config.json, the index when sharded, then the weight files. */
  files: string[];
}

const CONFIG = "config.json";
const SINGLE = "model.safetensors";
/** The index file of a sharded checkpoint. */
export const SAFETENSORS_INDEX = "model.safetensors.index.json";
const INDEX = SAFETENSORS_INDEX;

const indexSchema = z.looseObject({ weight_map: z.record(z.string(), z.string()) });

/**
 * Reads and checks a checkpoint. A missing shard, a tensor missing from the shard its index
 * names, or tensors missing or mis-shaped for the config are errors; all tensor problems are
 * reported together in one error. Extra tensors (e.g. `rotary_emb.inv_freq`) are ignored.
 *
 * @example
 * ```ts
 * const { config, tensors } = await readCheckpoint(dirModelSource("./model_cache/LLM-Research/Llama-3___2-1B"));
 * tensors.get("model.embed_tokens.weight")!.shape; // [128256, 2048]
 * ```
 */
export async function readCheckpoint(source: ModelSource): Promise<Checkpoint> {
  const where = JSON.stringify(source.name);
  const configJson = await readJson(source, CONFIG);
  let config: ModelConfig;
  try {
    config = parseModelConfig(configJson);
  } catch (e) {
    throw new Error(`${(e as Error).message} (in ${CONFIG} of ${where})`, { cause: e });
  }
  const files = [CONFIG];
  let tensors: Map<string, SafetensorsEntry>;
  if (await source.has(INDEX)) {
    files.push(INDEX);
    tensors = await readShards(source, files);
  } else if (await source.has(SINGLE)) {
    files.push(SINGLE);
    tensors = parseSafetensors(await source.read(SINGLE), `${source.name}/${SINGLE}`).tensors;
  } else {
    throw new Error(`No weights in ${where}: expected ${SINGLE} or ${INDEX}`);
  }
  checkTensors(config, tensors, where);
  return { config, tensors, files };
}

/**
 * The `weight_map` (tensor name → shard file) of a parsed `model.safetensors.index.json`, or
 * null when the index has none or maps a name to something other than a file name.
 */
export function parseWeightMap(index: unknown): Record<string, string> | null {
  const parsed = indexSchema.safeParse(index);
  return parsed.success ? parsed.data.weight_map : null;
}

/** Reads every shard named by the index once; appends the shard names to `files`. */
async function readShards(
  source: ModelSource,
  files: string[],
): Promise<Map<string, SafetensorsEntry>> {
  const where = JSON.stringify(source.name);
  const weightMap = parseWeightMap(await readJson(source, INDEX));
  if (!weightMap) {
    throw new Error(`Invalid ${INDEX} in ${where}: weight_map must map tensor names to files`);
  }
  const shards = [...new Set(Object.values(weightMap))].sort();
  const missing: string[] = [];
  for (const shard of shards) if (!(await source.has(shard))) missing.push(shard);
  if (missing.length > 0) {
    throw new Error(
      `Shard${missing.length > 1 ? "s" : ""} ${missing.map((s) => JSON.stringify(s)).join(", ")} ` +
        `named in ${INDEX} missing from ${where}`,
    );
  }
  const tensors = new Map<string, SafetensorsEntry>();
  const absent: string[] = [];
  for (const shard of shards) {
    files.push(shard);
    const file = parseSafetensors(await source.read(shard), `${source.name}/${shard}`);
    for (const [name, entryShard] of Object.entries(weightMap)) {
      if (entryShard !== shard) continue;
      const entry = file.tensors.get(name);
      if (entry === undefined) absent.push(`${name} (listed in ${shard})`);
      else tensors.set(name, entry);
    }
  }
  if (absent.length > 0) {
    throw new Error(
      `Tensors named in ${INDEX} of ${where} are missing from their shards: ${absent.join(", ")}`,
    );
  }
  return tensors;
}

/** Checks every tensor the config needs, and reports all missing or mis-shaped ones at once. */
function checkTensors(config: ModelConfig, tensors: Map<string, SafetensorsEntry>, where: string) {
  const problems: string[] = [];
  for (const [name, shape] of modelTensorShapes(config)) {
    const entry = tensors.get(name);
    if (entry === undefined) problems.push(`missing ${name} [${shape.join(", ")}]`);
    else if (entry.shape.join() !== shape.join()) {
      problems.push(
        `${name} has shape [${entry.shape.join(", ")}], expected [${shape.join(", ")}]`,
      );
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `Checkpoint ${where} does not match its ${CONFIG} (${problems.length} ` +
        `problem${problems.length === 1 ? "" : "s"}):\n  ` +
        problems.join("\n  "),
    );
  }
}
