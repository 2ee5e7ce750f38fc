/**
 * Reads a data set file from disk: the only file-system access of the data pipeline.
 *
 * @module
 */

import { type Dataset, loadDataset, type LoadDatasetOptions } from "./load_dataset.ts";

/**
 * Reads and loads a JSON array or JSONL data set file (see {@linkcode loadDataset}).
 *
 * @example
 * ```ts
 * const data = await loadDatasetFile("examples/data/ruozhiba_sample.json", { validation: 0.1 });
 * ```
 */
export async function loadDatasetFile(
  path: string,
  options: Omit<LoadDatasetOptions, "source"> = {},
): Promise<Dataset> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Data set file ${path} not found`);
    throw e;
  }
  return loadDataset(text, { ...options, source: path });
}
