/**
 * Model sources over a folder the user picks in a browser: the files of
 * `<input type="file" webkitdirectory>`, or a File System Access API folder handle
 * (`showDirectoryPicker()`, or a folder of the Origin Private File System).
 *
 * @module
 */
import {
  checkModelPath,
  ModelFileNotFoundError,
  type ModelSource,
} from "../format/model_source.ts";
import { type DirectoryHandle, isNotFound, parentFolder, type PickedFile } from "./file_handles.ts";

/**
 * The model files picked with `<input type="file" webkitdirectory>`. Paths are taken below the
 * picked folder: `tiny/config.json` is read as `config.json`.
 *
 * @example
 * ```ts
 * const input = document.querySelector("input[webkitdirectory]");
 * const model = await loadModel(pickedFilesModelSource(input.files));
 * ```
 *
 * @throws {Error} when no file was picked
 */
export function pickedFilesModelSource(files: Iterable<PickedFile>): ModelSource {
  const byPath = new Map<string, PickedFile>();
  let folder = "";
  for (const file of files) {
    const full = file.webkitRelativePath || file.name;
    const slash = full.indexOf("/");
    folder ||= slash > 0 ? full.slice(0, slash) : "picked files";
    byPath.set(slash > 0 ? full.slice(slash + 1) : full, file);
  }
  if (byPath.size === 0) throw new Error("No files were picked: choose a model folder");
  const name = folder;
  return {
    name,
    async read(path) {
      checkModelPath(path);
      const file = byPath.get(path);
      if (!file) throw new ModelFileNotFoundError(name, path);
      return new Uint8Array(await file.arrayBuffer());
    },
    // deno-lint-ignore require-await
    async has(path) {
      checkModelPath(path);
      return byPath.has(path);
    },
  };
}

/**
 * The model files in a folder handle: one from `showDirectoryPicker()` (the File System Access
 * API) or an Origin Private File System folder ({@linkcode opfsFolder}).
 *
 * @example
 * ```ts
 * const model = await loadModel(directoryModelSource(await showDirectoryPicker()));
 * ```
 */
export function directoryModelSource(root: DirectoryHandle): ModelSource {
  const name = root.name || "folder";
  const fileOf = async (path: string) => {
    checkModelPath(path);
    const { folder, name: file } = await parentFolder(root, path, false);
    return await folder.getFileHandle(file);
  };
  return {
    name,
    async read(path) {
      try {
        return new Uint8Array(await (await (await fileOf(path)).getFile()).arrayBuffer());
      } catch (e) {
        if (isNotFound(e)) throw new ModelFileNotFoundError(name, path);
        throw e;
      }
    },
    async has(path) {
      try {
        await fileOf(path);
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
  };
}
