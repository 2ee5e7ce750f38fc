/**
 * `/v1/files` contents in the cluster's files object store, so an upload to one replica is
 * readable on every other: each file is one object `uploads/<id>` whose description holds the
 * file's record (written together, so a listed file always has its content).
 *
 * @module
 */
import type { ObjectInfo, ObjectStore } from "@nats-io/obj";
import { ApiError } from "../errors.ts";
import { FILE_ID, newFileRecord, type StoredFile } from "../file_store.ts";
import type { FileService } from "../fine_tuning_service.ts";

const PREFIX = "uploads/";

/** Uploaded files in a NATS object store, with {@linkcode FileStore}'s methods. */
export class ClusterFileStore implements FileService {
  readonly #store: ObjectStore;

  /** Wraps the cluster's files store. */
  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** Stores `bytes` as a new file named `filename`; returns its record. */
  async create(filename: string, bytes: Uint8Array): Promise<StoredFile> {
    const file = newFileRecord(filename, bytes);
    await this.#store.putBlob(
      { name: PREFIX + file.id, description: JSON.stringify(file) },
      bytes,
    );
    return file;
  }

  /** Every file, newest first. */
  async list(): Promise<StoredFile[]> {
    const files = (await this.#store.list())
      .filter((info) => info.name.startsWith(PREFIX) && !info.deleted)
      .map(recordOf)
      .filter((file): file is StoredFile => file !== null);
    return files.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
  }

  /** The record of file `id`; a 404 {@linkcode ApiError} naming `param` when there is none. */
  async get(id: string, param = "file_id"): Promise<StoredFile> {
    const info = FILE_ID.test(id) ? await this.#store.info(PREFIX + id) : null;
    const file = info && !info.deleted ? recordOf(info) : null;
    if (!file) {
      throw new ApiError(404, `No file ${JSON.stringify(id)}`, { param, code: "file_not_found" });
    }
    return file;
  }

  /** The content of file `id` (404 when there is none). */
  async content(id: string, param = "file_id"): Promise<Uint8Array<ArrayBuffer>> {
    await this.get(id, param);
    const bytes = await this.#store.getBlob(PREFIX + id);
    if (!bytes) throw new ApiError(404, `No file ${JSON.stringify(id)}`, { param });
    return new Uint8Array(bytes);
  }

  /** Deletes file `id` (404 when there is none). */
  async delete(id: string): Promise<{ id: string; object: "file"; deleted: true }> {
    await this.get(id);
    await this.#store.delete(PREFIX + id);
    return { id, object: "file", deleted: true };
  }
}

/** The record kept in an object's description, or null when it is not one. */
function recordOf(info: ObjectInfo): StoredFile | null {
  try {
    const file = JSON.parse(info.description ?? "") as StoredFile;
    return info.name === PREFIX + file.id ? file : null;
  } catch {
    return null;
  }
}
