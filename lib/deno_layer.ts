/**
 * The Deno-only file layer (folders, atomic writes, data set files, hub downloads) as `mod.ts`
 * exports it: each function loads its module with a dynamic `import()` on first call, so the
 * library's static import graph holds no `node:` import and no `Deno` call, and the browser
 * build (`deno task build:web`) keeps these modules in chunks that a tab never loads.
 *
 * @module
 */
import type { Dataset, LoadDatasetOptions } from "./data/load_dataset.ts";
import type { ModelSource } from "./format/model_source.ts";
import type { DownloadedModel, DownloadModelOptions } from "./hub/download_model.ts";

const fsModelSource = () => import("./format/fs_model_source.ts");

/**
 * The model files in a local folder (Deno only).
 *
 * @example
 * ```ts
 * const model = await loadModel(dirModelSource("./model_cache/LLM-Research/Llama-3___2-1B"));
 * ```
 */
export function dirModelSource(dir: string): ModelSource {
  const source = fsModelSource().then((m) => m.dirModelSource(dir));
  return {
    name: dir,
    read: async (path) => await (await source).read(path),
    has: async (path) => await (await source).has(path),
  };
}

/**
 * Writes a file so that readers see either the old content or the whole new content: the
 * data goes to a temporary file beside `path`, which is then renamed over it (Deno only).
 *
 * @example
 * ```ts
 * await writeFileAtomic("./lora_output/loss_curve.svg", lossCurveSvg(result.losses));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await (await fsModelSource()).writeFileAtomic(path, data);
}

/**
 * Writes model files (relative path → bytes) into `dir`, creating it and any subfolders, each
 * file atomically (Deno only).
 *
 * @example
 * ```ts
 * await writeModelFiles("./lora_output", serializePeftAdapter(adapter, model.config, "Llama-3.2-1B"));
 * ```
 */
export async function writeModelFiles(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  await (await fsModelSource()).writeModelFiles(dir, files);
}

/**
 * Replaces `dir` with a folder holding exactly `files` (relative path → bytes), through a
 * temporary sibling folder renamed into place (Deno only).
 *
 * @example
 * ```ts
 * const files = serializeTrainingState(state, model.config, "Llama-3.2-1B");
 * await writeFolderAtomic(`./lora_output/checkpoint-${state.step}`, files);
 * ```
 */
export async function writeFolderAtomic(
  dir: string,
  files: Map<string, Uint8Array>,
): Promise<void> {
  await (await import("./format/folder_atomic.ts")).writeFolderAtomic(dir, files);
}

/**
 * Reads and loads a JSON array or JSONL data set file (see `loadDataset`; Deno only).
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
  return await (await import("./data/read_dataset_file.ts")).loadDatasetFile(path, options);
}

/**
 * Downloads a model's config, tokenizer and safetensors weights from ModelScope or Hugging
 * Face into `./model_cache` (Deno only). Re-running skips complete files and resumes partial
 * ones.
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
  return await (await import("./hub/download_model.ts")).downloadModel(options);
}
