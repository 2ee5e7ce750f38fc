/**
 * A replica's copy of the cluster's adapters: it watches the adapter index and writes each new
 * revision into its local adapters folder (atomically, folder by folder), where the server's
 * adapter registry loads it on first use. When a revision replaces one the replica already had,
 * `onNewRevision` is called, so the server can swap a resident adapter in its own turn.
 *
 * @module
 */
import { join } from "node:path";
import { writeFolderAtomic } from "../../mod.ts";
import { isSafeName } from "../safe_path.ts";
import type { AdapterRevision, AdapterStore } from "./adapter_store.ts";

/** Settings of an {@linkcode AdapterMirror}. */
export interface AdapterMirrorOptions {
  /** The local adapters folder (one sub-folder per adapter). */
  dir: string;
  /** Called after a newer revision of an adapter already mirrored was written. */
  onNewRevision: (name: string, revision: number) => Promise<void>;
  /** Receives problems with one adapter (the mirror goes on with the others). */
  warn: (message: string) => void;
}

/** Keeps a local adapters folder in step with the cluster's adapter index. */
export class AdapterMirror {
  readonly #store: AdapterStore;
  readonly #options: AdapterMirrorOptions;
  readonly #revisions = new Map<string, number>(); // name → revision written locally
  #stop: (() => void) | null = null;

  /** Makes a mirror of `store`; call {@linkcode start}. */
  constructor(store: AdapterStore, options: AdapterMirrorOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** The revision of `name` in the local folder, or undefined. */
  revisionOf(name: string): number | undefined {
    return this.#revisions.get(name);
  }

  /**
   * Starts watching the index: resolves once the current revisions are written, then writes
   * each new one.
   */
  async start(): Promise<void> {
    this.#stop = await this.#store.watch(
      (entry) => this.#write(entry),
      (e, entry) => this.#options.warn(`Adapter ${entry.name} r${entry.revision}: ${e.message}`),
    );
  }

  /** Stops watching. */
  stop(): void {
    this.#stop?.();
    this.#stop = null;
  }

  async #write(entry: AdapterRevision): Promise<void> {
    if (!isSafeName(entry.name)) throw new Error("not a safe folder name; skipped");
    const had = this.#revisions.get(entry.name);
    if (had !== undefined && had >= entry.revision) return;
    const files = await this.#store.files(entry);
    await writeFolderAtomic(join(this.#options.dir, entry.name), files);
    this.#revisions.set(entry.name, entry.revision);
    if (had !== undefined) await this.#options.onNewRevision(entry.name, entry.revision);
  }
}
