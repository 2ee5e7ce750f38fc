/**
 * Adapters shared by the cluster: each revision's PEFT files are immutable objects in the
 * adapter object store, and a KV index maps each adapter name to its current revision. A
 * revision is published by a compare-and-swap of the index entry once its files are stored,
 * so a reader sees either the old revision or the complete new one.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import type { ObjectStore } from "@nats-io/obj";
import { createJson, getJson, updateJson } from "./kv_cas.ts";
import { fromToken, token } from "./names.ts";
import { type FolderManifest, getFolder, putFolder } from "./object_folder.ts";

/** An adapter's entry in the index: its current revision. */
export interface AdapterRevision {
  /** The adapter's model id. */
  name: string;
  /** 1 for the first publication, then one more for each. */
  revision: number;
  /** Where the revision's files are. */
  manifest: FolderManifest;
  /** Unix milliseconds of the publication. */
  publishedAt: number;
}

/** The cluster's adapters: revisions in the object store, published through the KV index. */
export class AdapterStore {
  readonly #index: KV;
  readonly #files: ObjectStore;

  /** Wraps the index bucket and the files store. */
  constructor(index: KV, files: ObjectStore) {
    this.#index = index;
    this.#files = files;
  }

  /** Stores `files` as a new revision of `name` and publishes it; returns the entry. */
  async publish(name: string, files: Map<string, Uint8Array>): Promise<AdapterRevision> {
    const key = token(name);
    const manifest = await putFolder(this.#files, `${key}/${crypto.randomUUID()}`, files);
    const first: AdapterRevision = { name, revision: 1, manifest, publishedAt: Date.now() };
    if (await createJson(this.#index, key, first)) return first;
    const { value } = await updateJson<AdapterRevision>(this.#index, key, (current) => ({
      ...first,
      revision: current.revision + 1,
    }));
    return value;
  }

  /** The current revision of `name`, or null when none was published. */
  async get(name: string): Promise<AdapterRevision | null> {
    return (await getJson<AdapterRevision>(this.#index, token(name)))?.value ?? null;
  }

  /** The files of revision `entry`. */
  files(entry: AdapterRevision): Promise<Map<string, Uint8Array>> {
    return getFolder(this.#files, entry.manifest);
  }

  /** The names of every published adapter, sorted. */
  async names(): Promise<string[]> {
    const names: string[] = [];
    for await (const key of await this.#index.keys()) names.push(fromToken(key));
    return names.sort();
  }

  /**
   * Calls `onRevision` with every current revision, resolving once those calls are done, then
   * with each new one as it is published, until the returned function is called. A failure of
   * `onRevision` goes to `onError`, and the watch goes on.
   */
  async watch(
    onRevision: (entry: AdapterRevision) => Promise<void>,
    onError: (error: Error, entry: AdapterRevision) => void,
  ): Promise<() => void> {
    const watcher = await this.#index.watch();
    let markCurrent!: () => void;
    const current = new Promise<void>((resolve) => (markCurrent = resolve));
    if ((await this.names()).length === 0) markCurrent();
    (async () => {
      for await (const e of watcher) {
        if (e.operation === "PUT") {
          const entry = e.json<AdapterRevision>();
          await onRevision(entry).catch((error) => onError(error, entry));
        }
        if (!e.delta) markCurrent(); // the last of the current values (or a later one)
      }
      markCurrent();
    })();
    await current;
    return () => watcher.stop();
  }
}
