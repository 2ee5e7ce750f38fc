/**
 * Which files of a model repository to fetch: configuration, tokenizer and safetensors weights,
 * all from the repository's top level.
 *
 * @module
 */

import { HubError } from "./hub_error.ts";
import type { HubFile } from "./types.ts";

import { SAFETENSORS_INDEX } from "../format/checkpoint.ts";
import { TOKENIZER_FILES } from "../text/tokenizer_files.ts";

/** Files fetched when present; `config.json` is required. */
export const MODEL_FILES = ["config.json", ...TOKENIZER_FILES, SAFETENSORS_INDEX];

/**
 * Picks the files a model needs from a repository listing: the files of {@linkcode MODEL_FILES}
 * that exist, and the weights. With a `weightMap` (the index's `weight_map`), the weights are the
 * shards it names; without, every top-level `*.safetensors` file.
 *
 * @param files the repository listing
 * @param model the model id, for messages
 * @param weightMap the `weight_map` of `model.safetensors.index.json`, when the repo has one
 * @throws {HubError} `not_found` when `config.json` or the weights are missing
 */
export function selectModelFiles(
  files: HubFile[],
  model: string,
  weightMap?: Record<string, string>,
): HubFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  if (!byPath.has("config.json")) {
    throw new HubError(
      "not_found",
      `Repository ${model} has no config.json at its top level: it is not a Hugging Face ` +
        `format model`,
    );
  }
  let weights: HubFile[];
  if (weightMap !== undefined) {
    const shards = [...new Set(Object.values(weightMap))].sort();
    const missing = shards.filter((s) => !byPath.has(s));
    if (missing.length > 0) {
      throw new HubError(
        "not_found",
        `Repository ${model} lacks shards named in ${SAFETENSORS_INDEX}: ${missing.join(", ")}`,
      );
    }
    weights = shards.map((s) => byPath.get(s)!);
  } else {
    weights = files.filter((f) => !f.path.includes("/") && f.path.endsWith(".safetensors"));
  }
  if (weights.length === 0) {
    const other = files.filter((f) => /\.(bin|pth|pt|gguf)$/.test(f.path)).map((f) => f.path);
    throw new HubError(
      "not_found",
      `Repository ${model} has no safetensors weights at its top level` +
        (other.length > 0 ? ` (it has ${other.slice(0, 3).join(", ")})` : "") +
        `: only safetensors checkpoints can be loaded`,
    );
  }
  const extras = MODEL_FILES.flatMap((p) => byPath.get(p) ?? []);
  return [...extras, ...weights];
}
