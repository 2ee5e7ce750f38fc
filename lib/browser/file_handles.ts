/**
 * The parts of the browser's File System API (the Origin Private File System and
 * `showDirectoryPicker`'s handles) and of `<input type="file" webkitdirectory>` files that the
 * library uses, typed structurally so that Deno tests can pass fakes.
 *
 * @module
 */

/** A writable stream of one file; its content replaces the file's only on `close()`. */
export interface WritableFile {
  /** Appends bytes. */
  write(data: Uint8Array): Promise<void>;
  /** Commits the written bytes to the file. */
  close(): Promise<void>;
  /** Drops the written bytes; the file keeps its old content. */
  abort(): Promise<void>;
}

/** A file handle (`FileSystemFileHandle`). */
export interface FileHandle {
  /** The file's name. */
  readonly name: string;
  /** The file's content. */
  getFile(): Promise<Blob>;
  /** A writable stream whose content replaces the file's on close (atomic). */
  createWritable(): Promise<WritableFile>;
}

/** A folder handle (`FileSystemDirectoryHandle`). */
export interface DirectoryHandle {
  /** The folder's name. */
  readonly name: string;
  /** A subfolder; rejects with a `NotFoundError` DOMException when absent and not created. */
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  /** A file; rejects with a `NotFoundError` DOMException when absent and not created. */
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle>;
  /** Removes an entry. */
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
}

/** A file picked with `<input type="file" webkitdirectory>`: a `File` with its folder path. */
export interface PickedFile extends Blob {
  /** The file's name. */
  readonly name: string;
  /** The path below the picked folder's parent, e.g. `tiny/config.json`. */
  readonly webkitRelativePath: string;
}

/** Whether `e` says that a file or folder does not exist (a `NotFoundError` or `TypeMismatchError`). */
export function isNotFound(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === "NotFoundError" || name === "TypeMismatchError";
}

/** The folder that holds `path` (relative, `/`-separated) below `root`, created if asked. */
export async function parentFolder(
  root: DirectoryHandle,
  path: string,
  create: boolean,
): Promise<{ folder: DirectoryHandle; name: string }> {
  const segments = path.split("/");
  const name = segments.pop()!;
  let folder = root;
  for (const segment of segments) folder = await folder.getDirectoryHandle(segment, { create });
  return { folder, name };
}
