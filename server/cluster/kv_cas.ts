/**
 * Compare-and-swap updates of JSON values in a NATS KV bucket: read, change, write back only if
 * nobody wrote in between, and retry on a conflict. This is the only way the cluster changes a
 * shared record, so two processes never lose each other's writes.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";

/** A JSON value and the KV revision it was read at. */
export interface Versioned<T> {
  /** The value. */
  value: T;
  /** The KV revision (the sequence a compare-and-swap compares against). */
  revision: number;
}

/** Reads key `key` as JSON, or null when absent or deleted. */
export async function getJson<T>(kv: KV, key: string): Promise<Versioned<T> | null> {
  const entry = await kv.get(key);
  if (!entry || entry.operation !== "PUT") return null;
  return { value: entry.json<T>(), revision: entry.revision };
}

/** Creates key `key` with `value`; false when it already exists. */
export async function createJson<T>(kv: KV, key: string, value: T): Promise<boolean> {
  try {
    await kv.create(key, JSON.stringify(value));
    return true;
  } catch (e) {
    if (isConflict(e)) return false;
    throw e;
  }
}

/**
 * Applies `change` to the value at `key` with compare-and-swap, retrying on conflicts (up to
 * `attempts` times). `change` returns the new value, or null to leave the record as it is.
 * Resolves to the stored value (new or unchanged); throws when the key is absent.
 */
export async function updateJson<T>(
  kv: KV,
  key: string,
  change: (current: T) => T | null,
  attempts = 20,
): Promise<Versioned<T>> {
  for (let i = 0; i < attempts; i++) {
    const current = await getJson<T>(kv, key);
    if (!current) throw new Error(`No record ${JSON.stringify(key)}`);
    const next = change(current.value);
    if (next === null) return current;
    try {
      const revision = await kv.update(key, JSON.stringify(next), current.revision);
      return { value: next, revision };
    } catch (e) {
      if (!isConflict(e)) throw e;
    }
  }
  throw new Error(`Record ${JSON.stringify(key)} kept changing: ${attempts} conflicting writes`);
}

/** Whether `e` is JetStream's "wrong last sequence" answer to a compare-and-swap. */
function isConflict(e: unknown): boolean {
  return e instanceof Error && /wrong last sequence|10071/.test(
    `${e.message} ${(e as { code?: unknown }).code ?? ""} ${String(e.cause ?? "")}`,
  );
}
