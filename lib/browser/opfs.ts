/**
 * The Origin Private File System (OPFS): a folder of it, files written into a folder handle,
 * and a model source that keeps what it downloads there, so that a reload reads the weights
 * from disk instead of the network.
 *
 * @module
 */
import { checkModelPath, type ModelSource } from "../format/model_source.ts";
import { directoryModelSource } from "./folder_sources.ts";
import { type DirectoryHandle, parentFolder } from "./file_handles.ts";

/**
 * A folder of the Origin Private File System (`navigator.storage.getDirectory()`), created with
 * its parents when missing. `path` is relative and `/`-separated.
 *
 * @example
 * ```ts
 * const adapters = await opfsFolder("webgpu-lora/adapters/ruozhi");
 * ```
 *
 * @throws {Error} where the browser has no Origin Private File System
 */
export async function opfsFolder(path: string): Promise<DirectoryHandle> {
  checkModelPath(path);
  const storage = (globalThis.navigator as { storage?: { getDirectory?: unknown } } | undefined)
    ?.storage;
  if (typeof storage?.getDirectory !== "function") {
    throw new Error("This browser has no Origin Private File System (navigator.storage)");
  }
  let folder = await (storage.getDirectory as () => Promise<DirectoryHandle>).call(storage);
  for (const segment of path.split("/")) {
    folder = await folder.getDirectoryHandle(segment, { create: true });
  }
  return folder;
}

/**
 * Writes files (relative path → bytes) into a folder handle, creating subfolders. Each file is
 * written through `createWritable()`, whose content replaces the file only when complete, so a
 * reader never sees a half-written file.
 *
 * @example
 * ```ts
 * const files = serializePeftAdapter(adapter, model.config, "tiny");
 * await writeFilesToFolder(await opfsFolder("webgpu-lora/adapters/ruozhi"), files);
 * ```
 */
export async function writeFilesToFolder(
  root: DirectoryHandle,
  files: Map<string, Uint8Array>,
): Promise<void> {
  for (const path of files.keys()) checkModelPath(path);
  for (const [path, bytes] of files) {
    const { folder, name } = await parentFolder(root, path, true);
    const writable = await (await folder.getFileHandle(name, { create: true })).createWritable();
    try {
      await writable.write(bytes);
      await writable.close();
    } catch (e) {
      await writable.abort().catch(() => {}); // the stream may already be closed
      throw e;
    }
  }
}

/**
 * A model source that reads each file from `cache` when it is there, and otherwise from `source`,
 * keeping a copy in `cache` (an OPFS folder, {@linkcode opfsFolder}) for the next time. A file
 * the source lacks is remembered too (an empty `<path>.absent` file), so a reload asks the
 * source nothing at all; empty the folder to fetch a changed model again.
 *
 * @example
 * ```ts
 * const url = "https://huggingface.co/Qwen/Qwen3-0.6B/resolve/main/";
 * const source = cachedModelSource(urlModelSource(url), await opfsFolder("models/Qwen3-0.6B"));
 * const model = await loadModel(source); // a reload reads the weights from OPFS
 * ```
 */
export function cachedModelSource(source: ModelSource, cache: DirectoryHandle): ModelSource {
  const cached = directoryModelSource(cache);
  return {
    name: source.name,
    async read(path) {
      if (await cached.has(path)) return await cached.read(path);
      const bytes = await source.read(path);
      await writeFilesToFolder(cache, new Map([[path, bytes]]));
      return bytes;
    },
    async has(path) {
      if (await cached.has(path)) return true;
      if (await cached.has(absentMarker(path))) return false;
      const present = await source.has(path);
      if (!present) {
        await writeFilesToFolder(cache, new Map([[absentMarker(path), new Uint8Array()]]));
      }
      return present;
    },
  };
}

/** The empty file that records that the source has no `path`. */
function absentMarker(path: string): string {
  return `${path}.absent`;
}
