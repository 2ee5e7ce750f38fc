/**
 * The thin Deno layer for model files on disk: a {@linkcode ModelSource} over a folder, and
 * atomic writes (temporary file, then rename) for saving models and adapters.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { checkModelPath, ModelFileNotFoundError, type ModelSource } from "./model_source.ts";

/**
 * The model files in a local folder.
 *
 * @example
 * ```ts
 * const model = await loadModel(dirModelSource("./model_cache/LLM-Research/Llama-3___2-1B"));
 * ```
 */
export function dirModelSource(dir: string): ModelSource {
  const pathOf = (path: string) => {
    checkModelPath(path);
    return join(dir, path);
  };
  return {
    name: dir,
    async read(path) {
      try {
        return await Deno.readFile(pathOf(path));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) throw new ModelFileNotFoundError(dir, path);
        throw e;
      }
    },
    async has(path) {
      try {
        return (await Deno.stat(pathOf(path))).isFile;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return false;
        throw e;
      }
    },
  };
}

/** Bytes handed to one write call, so that large files are not copied whole. */
const WRITE_CHUNK = 64 << 20;

/**
 * Writes a file so that readers see either the old content or the whole new content: the
 * data goes to a temporary file beside `path`, flushed to disk, which is then renamed over it. The folder must
 * exist. Large data is written in chunks, without a second copy in memory.
 *
 * @example
 * ```ts
 * await writeFileAtomic("./lora_output/loss_curve.svg", lossCurveSvg(result.losses));
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  try {
    {
      using file = await Deno.open(temp, { write: true, createNew: true });
      for (let offset = 0; offset < bytes.length;) {
        const end = Math.min(offset + WRITE_CHUNK, bytes.length);
        offset += await file.write(bytes.subarray(offset, end));
      }
      await file.sync(); // on disk before the rename, so a crash never leaves a torn file
    } // closed before the rename, which Windows requires
    await Deno.rename(temp, path);
  } catch (e) {
    await Deno.remove(temp).catch(() => {}); // the temporary file may not exist
    throw e;
  }
}

/**
 * Writes model files (relative path → bytes) into `dir`, creating it and any subfolders, each
 * file atomically.
 *
 * @example
 * ```ts
 * await writeModelFiles("./lora_output", serializePeftAdapter(adapter, model.config, "Llama-3.2-1B"));
 * ```
 */
export async function writeModelFiles(dir: string, files: Map<string, Uint8Array>): Promise<void> {
  for (const path of files.keys()) checkModelPath(path);
  for (const [path, bytes] of files) {
    const target = join(dir, path);
    await Deno.mkdir(dirname(target), { recursive: true });
    await writeFileAtomic(target, bytes);
  }
}
