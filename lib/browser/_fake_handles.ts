/**
 * In-memory fakes of the browser's folder handles for Deno tests: they reject as browsers do
 * (`NotFoundError`, `TypeMismatchError` DOMExceptions) and commit writes only on close.
 *
 * @module
 */
import type { DirectoryHandle, FileHandle, WritableFile } from "./file_handles.ts";

/** A fake folder: `entries` holds subfolders and file bytes. */
export class FakeDirectory implements DirectoryHandle {
  readonly name: string;
  readonly entries = new Map<string, FakeDirectory | Uint8Array>();

  constructor(name: string) {
    this.name = name;
  }

  // deno-lint-ignore require-await
  async getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<FakeDirectory> {
    const entry = this.entries.get(name);
    if (entry instanceof FakeDirectory) return entry;
    if (entry) throw new DOMException(`${name} is a file`, "TypeMismatchError");
    if (!options?.create) throw new DOMException(`${name} not found`, "NotFoundError");
    const folder = new FakeDirectory(name);
    this.entries.set(name, folder);
    return folder;
  }

  // deno-lint-ignore require-await
  async getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle> {
    const entry = this.entries.get(name);
    if (entry instanceof FakeDirectory) {
      throw new DOMException(`${name} is a folder`, "TypeMismatchError");
    }
    if (!entry && !options?.create) throw new DOMException(`${name} not found`, "NotFoundError");
    if (!entry) this.entries.set(name, new Uint8Array());
    const entries = this.entries;
    return {
      name,
      // deno-lint-ignore require-await
      getFile: async () => new Blob([entries.get(name) as Uint8Array<ArrayBuffer>]),
      // deno-lint-ignore require-await
      createWritable: async (): Promise<WritableFile> => {
        const parts: Uint8Array[] = [];
        return {
          // deno-lint-ignore require-await
          write: async (data) => void parts.push(data.slice()),
          // deno-lint-ignore require-await
          close: async () => void entries.set(name, concat(parts)),
          abort: async () => {},
        };
      },
    };
  }

  // deno-lint-ignore require-await
  async removeEntry(name: string): Promise<void> {
    if (!this.entries.delete(name)) throw new DOMException(`${name} not found`, "NotFoundError");
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) out.set(p, (offset += p.length) - p.length);
  return out;
}
