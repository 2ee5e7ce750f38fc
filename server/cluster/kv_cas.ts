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
 *
 * A call that times out (the node it went to died, or the bucket is electing a leader) is
 * retried until `retryForMs` has passed; a write whose answer was lost is recognised on the
 * next read (the record holds exactly what it wrote), so it is never applied twice.
 */
export async function updateJson<T>(
  kv: KV,
  key: string,
  change: (current: T) => T | null,
  attempts = 20,
  retryForMs = 60_000,
): Promise<Versioned<T>> {
  const deadline = Date.now() + retryForMs;
  let written: string | null = null; // what a write whose answer was lost wrote
  for (let i = 0; i < attempts;) {
    try {
      const current = await getJson<T>(kv, key);
      if (!current) throw new Error(`No record ${JSON.stringify(key)}`);
      if (written !== null && JSON.stringify(current.value) === written) return current;
      const next = change(current.value);
      if (next === null) return current;
      written = JSON.stringify(next);
      const revision = await kv.update(key, written, current.revision);
      return { value: next, revision };
    } catch (e) {
      if (isUnanswered(e) && Date.now() < deadline) continue;
      if (!isConflict(e)) throw e;
      written = null;
      i++;
    }
  }
  throw new Error(`Record ${JSON.stringify(key)} kept changing: ${attempts} conflicting writes`);
}

/**
 * Runs `call` until it gets an answer, retrying while it gets none (see `isUnanswered`) for up
 * to `retryForMs`. Only for calls that are safe to repeat (a publish with a message id).
 */
export async function retryUnanswered<T>(call: () => Promise<T>, retryForMs = 60_000): Promise<T> {
  const deadline = Date.now() + retryForMs;
  for (;;) {
    try {
      return await call();
    } catch (e) {
      if (!isUnanswered(e) || Date.now() >= deadline) throw e;
    }
  }
}

/**
 * Whether `e` says a request got no answer: a timeout, or no responders (JetStream reports "not
 * enabled") while the bucket elects a leader.
 */
function isUnanswered(e: unknown): boolean {
  for (let cause = e; cause instanceof Error; cause = cause.cause) {
    if (cause.name === "TimeoutError" || /timeout|no responders/i.test(cause.message)) return true;
  }
  return false;
}

/** Whether `e` is JetStream's "wrong last sequence" answer to a compare-and-swap. */
function isConflict(e: unknown): boolean {
  return e instanceof Error && /wrong last sequence|10071/.test(
    `${e.message} ${(e as { code?: unknown }).code ?? ""} ${String(e.cause ?? "")}`,
  );
}
