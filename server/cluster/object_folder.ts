/**
 * A folder of files (name → bytes) stored as objects under one prefix of a NATS object store,
 * named by a manifest that lists each file with its digest. The manifest is written elsewhere
 * (a KV entry or a job record) only after every object is in, so whoever reads a manifest finds
 * all of its files.
 *
 * @module
 */
import type { ObjectStore } from "@nats-io/obj";

/** Where a stored folder lives and what it holds. */
export interface FolderManifest {
  /** The objects' common prefix (`<prefix>/<file name>`). */
  prefix: string;
  /** File name → the object store's digest of it. */
  files: Record<string, string>;
}

/** Stores `files` under `prefix` and returns their manifest. */
export async function putFolder(
  store: ObjectStore,
  prefix: string,
  files: Map<string, Uint8Array>,
): Promise<FolderManifest> {
  const manifest: FolderManifest = { prefix, files: {} };
  for (const [name, bytes] of files) {
    const info = await store.putBlob({ name: `${prefix}/${name}` }, bytes);
    manifest.files[name] = info.digest;
  }
  return manifest;
}

/** Reads the folder `manifest` names; throws when a file is missing. */
export async function getFolder(
  store: ObjectStore,
  manifest: FolderManifest,
): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  for (const name of Object.keys(manifest.files)) {
    const bytes = await store.getBlob(`${manifest.prefix}/${name}`);
    if (!bytes) throw new Error(`Stored folder ${manifest.prefix} lacks ${name}`);
    files.set(name, new Uint8Array(bytes)); // a plain array, not the client's Node Buffer
  }
  return files;
}

/** Deletes the objects of the folder `manifest` names (those already gone are skipped). */
export async function deleteFolder(store: ObjectStore, manifest: FolderManifest): Promise<void> {
  for (const name of Object.keys(manifest.files)) {
    await store.delete(`${manifest.prefix}/${name}`).catch(() => {});
  }
}
