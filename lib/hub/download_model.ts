/**
 * Downloads what a model needs from a hub into the cache layout of the user's current script.
 *
 * @module
 */

import { isAbsolute, join, normalize, sep } from "node:path";
import { modelCacheDir } from "./cache_path.ts";
import { downloadFile } from "./download_file.ts";
import { HubError } from "./hub_error.ts";
import { DEFAULT_MODEL } from "./model_id.ts";
import { type HubSource, openRepo, type OpenRepoOptions } from "./open_repo.ts";
import { type RetryOptions, withRetry } from "./retry.ts";
import { parseWeightMap, SAFETENSORS_INDEX } from "../format/checkpoint.ts";
import { selectModelFiles } from "./select_files.ts";
import type { DownloadEvent, HubFile } from "./types.ts";

/** Options of {@linkcode downloadModel}. */
export interface DownloadModelOptions extends OpenRepoOptions {
  /** The model id, `owner/name`. Default `LLM-Research/Llama-3.2-1B`. */
  model?: string;
  /** The hub. Default `modelscope`. */
  source?: HubSource;
  /** The cache folder. Default `./model_cache`. */
  out?: string;
  /** The retry policy for every request. */
  retry?: RetryOptions;
  /** Receives progress events. */
  onEvent?: (event: DownloadEvent) => void;
  /** Cancels the download; `.part` files stay for a later resume. */
  signal?: AbortSignal;
}

/** The outcome of {@linkcode downloadModel}. */
export interface DownloadedModel {
  /** The model folder, e.g. `model_cache/LLM-Research/Llama-3___2-1B`. */
  dir: string;
  /** The files in it, with whether each was already there. */
  files: { path: string; size: number; skipped: boolean }[];
}

/**
 * Downloads a model's config, tokenizer and safetensors weights. Lists the repository, fetches
 * `model.safetensors.index.json` first when there is one (to fetch only the shards it names),
 * then every other file in turn. Re-running skips complete files and resumes partial ones.
 *
 * @example
 * ```ts
 * const { dir } = await downloadModel({ model: "LLM-Research/Llama-3.2-1B" });
 * // dir === "model_cache/LLM-Research/Llama-3___2-1B"
 * ```
 *
 * @throws {HubError} with a message that says what to do (token, id, disk space)
 */
export async function downloadModel(options: DownloadModelOptions = {}): Promise<DownloadedModel> {
  const model = options.model ?? DEFAULT_MODEL;
  const repo = openRepo(options.source ?? "modelscope", model, options);
  const dir = modelCacheDir(options.out ?? "./model_cache", model);
  const fileOptions = { retry: options.retry, onEvent: options.onEvent, signal: options.signal };
  const fetchOne = (file: HubFile) =>
    downloadFile(repo, file, localPath(dir, file.path), fileOptions);

  const listing = await withRetry(
    () => repo.listFiles(options.signal),
    options.retry,
    (attempt, delayMs, error) =>
      options.onEvent?.({
        type: "retry",
        path: "file list",
        attempt,
        delayMs,
        error: (error as Error).message,
      }),
  );
  const index = listing.find((f) => f.path === SAFETENSORS_INDEX);
  const indexDownload = index === undefined ? undefined : await fetchOne(index);
  const weightMap = indexDownload === undefined
    ? undefined
    : await readWeightMap(indexDownload.dest, model);
  const files = selectModelFiles(listing, model, weightMap);
  options.onEvent?.({
    type: "plan",
    files: files.map(({ path, size }) => ({ path, size })),
    totalBytes: files.reduce((sum, f) => sum + f.size, 0),
  });
  const done = [];
  for (const file of files) {
    // The index is already in place: fetching it again would only re-verify it and call it skipped.
    const { size, skipped } = file === index && indexDownload !== undefined
      ? indexDownload
      : await fetchOne(file);
    done.push({ path: file.path, size, skipped });
  }
  return { dir, files: done };
}

/** The local path of a repository file, refusing paths that would leave the model folder. */
function localPath(dir: string, path: string): string {
  const local = normalize(path);
  if (isAbsolute(path) || local.startsWith(`..${sep}`) || local === "..") {
    throw new HubError("bad_response", `Hub listed a file outside the repository: ${path}`);
  }
  return join(dir, local);
}

/** Reads the `weight_map` of a downloaded safetensors index. */
async function readWeightMap(path: string, model: string): Promise<Record<string, string>> {
  let index: unknown;
  try {
    index = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new HubError(
      "bad_response",
      `${SAFETENSORS_INDEX} of ${model} is not valid JSON: ${(e as Error).message}`,
    );
  }
  const map = parseWeightMap(index);
  if (!map) {
    throw new HubError("bad_response", `${SAFETENSORS_INDEX} of ${model} has no valid weight_map`);
  }
  return map;
}
