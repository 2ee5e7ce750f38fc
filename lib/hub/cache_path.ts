/**
 * Where a downloaded model lives: the layout of ModelScope's `snapshot_download(model_id,
 * cache_dir=out)`, so that paths users already have keep working.
 *
 * @module
 */

import { join } from "node:path";
import { checkModelId } from "./model_id.ts";

/**
 * The folder of `model` under `out`: `{out}/{owner}/{name}`, with every `.` of the name replaced
 * by `___` as ModelScope does. The same layout is used for models from Hugging Face.
 *
 * @example
 * ```ts
 * modelCacheDir("./model_cache", "LLM-Research/Llama-3.2-1B");
 * // "model_cache/LLM-Research/Llama-3___2-1B"
 * ```
 */
export function modelCacheDir(out: string, model: string): string {
  checkModelId(model);
  const [owner, name] = model.split("/");
  return join(out, owner, name.replaceAll(".", "___"));
}
