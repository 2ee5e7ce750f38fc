/**
 * Uploaded files, as OpenAI's Files API keeps them for fine-tuning: each file is stored as
 * `<dir>/<id>` with its record beside it in `<dir>/<id>.json` (both written atomically), and
 * a job's `training_file` may name it by id.
 *
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../mod.ts";
import { ApiError } from "./errors.ts";
import { randomId } from "./job_store.ts";

/** An uploaded file, shaped like OpenAI's `file` object. */
export interface StoredFile {
  /** `file-…`. */
  id: string;
  /** Always "file". */
  object: "file";
  /** Its size. */
  bytes: number;
  /** Unix seconds. */
  created_at: number;
  /** The name it was uploaded with. */
  filename: string;
  /** What it is for: always "fine-tune" here. */
  purpose: "fine-tune";
  /** Always "processed": files are usable once stored. */
  status: "processed";
}

/** A file id: `file-` and letters or digits. */
export const FILE_ID = /^file-[A-Za-z0-9]{1,64}$/;

const recordSchema = z.object({
  id: z.string().regex(FILE_ID),
  object: z.literal("file"),
  bytes: z.number(),
  created_at: z.number(),
  filename: z.string(),
  purpose: z.literal("fine-tune"),
  status: z.literal("processed"),
});

/** The record of a new upload of `bytes` named `filename` (the name cut to 256 characters). */
export function newFileRecord(filename: string, bytes: Uint8Array): StoredFile {
  return {
    id: randomId("file-"),
    object: "file",
    bytes: bytes.length,
    created_at: Math.floor(Date.now() / 1000),
    filename: filename.slice(0, 256),
    purpose: "fine-tune",
    status: "processed",
  };
}

/** Uploaded files under one folder. */
export class FileStore {
  /** The folder of the files. */
  readonly dir: string;

  /** A store in `dir` (created on the first upload). */
  constructor(dir: string) {
    this.dir = dir;
  }

  /** Stores `bytes` as a new file named `filename`; returns its record. */
  async create(filename: string, bytes: Uint8Array): Promise<StoredFile> {
    const file = newFileRecord(filename, bytes);
    await Deno.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(join(this.dir, file.id), bytes);
    await writeFileAtomic(join(this.dir, `${file.id}.json`), JSON.stringify(file) + "\n");
    return file;
  }

  /** Every file, newest first. */
  async list(): Promise<StoredFile[]> {
    const files: StoredFile[] = [];
    try {
      for await (const item of Deno.readDir(this.dir)) {
        const id = item.name.replace(/\.json$/, "");
        if (item.isFile && item.name !== id && FILE_ID.test(id)) {
          const file = await this.#read(id);
          if (file) files.push(file);
        }
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return files.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1));
  }

  /** The record of file `id`; a 404 {@linkcode ApiError} naming `param` when there is none. */
  async get(id: string, param = "file_id"): Promise<StoredFile> {
    const file = FILE_ID.test(id) ? await this.#read(id) : null;
    if (!file) {
      throw new ApiError(404, `No file ${JSON.stringify(id)}`, { param, code: "file_not_found" });
    }
    return file;
  }

  /** The content of file `id` (404 when there is none). */
  async content(id: string, param = "file_id"): Promise<Uint8Array<ArrayBuffer>> {
    await this.get(id, param);
    return await Deno.readFile(join(this.dir, id));
  }

  /** Deletes file `id` (404 when there is none). */
  async delete(id: string): Promise<{ id: string; object: "file"; deleted: true }> {
    await this.get(id);
    await Deno.remove(join(this.dir, `${id}.json`)); // the record first: then it is gone
    await Deno.remove(join(this.dir, id)).catch(() => {});
    return { id, object: "file", deleted: true };
  }

  async #read(id: string): Promise<StoredFile | null> {
    try {
      const parsed = recordSchema.safeParse(
        JSON.parse(await Deno.readTextFile(join(this.dir, `${id}.json`))),
      );
      return parsed.success && parsed.data.id === id ? parsed.data : null;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof SyntaxError) return null;
      throw e;
    }
  }
}
