/**
 * Adapter files as one zip, for a browser download or upload (npm `fflate`).
 *
 * @module
 */
import { unzipSync, zipSync } from "../deps.ts";
import { checkModelPath } from "../format/model_source.ts";

/**
 * Zips files (relative path → bytes), stored without compression: safetensors of floats barely
 * compress, and storing keeps zipping instant.
 *
 * @example
 * ```ts
 * const zip = zipFiles(serializePeftAdapter(adapter, model.config, "tiny"));
 * const link = Object.assign(document.createElement("a"), {
 *   href: URL.createObjectURL(new Blob([zip], { type: "application/zip" })),
 *   download: "adapter.zip",
 * });
 * link.click();
 * ```
 */
export function zipFiles(files: Map<string, Uint8Array>): Uint8Array {
  const entries: Record<string, Uint8Array> = {};
  for (const [path, bytes] of files) {
    checkModelPath(path);
    entries[path] = bytes;
  }
  return zipSync(entries, { level: 0 });
}

/**
 * The files of a zip (relative path → bytes), folders left out.
 *
 * @example
 * ```ts
 * const files = unzipFiles(new Uint8Array(await upload.arrayBuffer()));
 * const adapter = await readPeftAdapter(memoryModelSource("upload", files), model.config);
 * ```
 *
 * @throws {Error} when the bytes are not a zip, or a name leaves the archive (`..`, absolute)
 */
export function unzipFiles(zip: Uint8Array): Map<string, Uint8Array> {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip);
  } catch (e) {
    throw new Error(`Not a zip file: ${(e as Error).message}`);
  }
  const files = new Map<string, Uint8Array>();
  for (const [path, bytes] of Object.entries(entries)) {
    if (path.endsWith("/")) continue; // a folder entry
    checkModelPath(path);
    files.set(path, bytes);
  }
  return files;
}
