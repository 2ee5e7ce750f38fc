/**
 * Compare-and-swap updates of JSON values in a NATS KV bucket: read, change, write back only if
 * nobody wrote in between, and retry on a conflict. This is the only way the cluster changes a
 * shared record, so two processes never lose each other's writes.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import { isUnanswered } from "./cluster_errors.ts";

/**
 * How long a call that is retried until answered waits for each answer, in ms: the job
 * records' reads and writes and the queue's and events' publishes. Short, because a request
 * in flight when the client's own NATS node dies is lost and only its timeout ends the wait
 * (writes resumed 2.0 s after such a kill with the 2 s API timeout, see server/README.md).
 */
export const RETRIED_CALL_TIMEOUT_MS = 500;

/** The pause before retrying an unanswered call, in ms (no responders answer at once). */
const RETRY_PAUSE_MS = 20;

/** A JSON value and the KV revision it was read at. */
export interface Versioned<T> {
  /** The value. */
  value: T;
  /** The KV revision (the sequence a compare-and-swap compares against). */
  revision: number;
}

/**
 * Reads key `key` as JSON, or null when absent or deleted; retried while unanswered, for up to
 * `retryForMs`.
 */
export async function getJson<T>(
  kv: KV,
  key: string,
  retryForMs = 60_000,
): Promise<Versioned<T> | null> {
  const entry = await retryUnanswered(() => kv.get(key), retryForMs);
  if (!entry || entry.operation !== "PUT") return null;
  return { value: entry.json<T>(), revision: entry.revision };
}

/**
 * Creates key `key` with `value`; false when it already exists. Retried while unanswered, for
 * up to `retryForMs`: a create whose answer was lost meets its own record on the retry, which
 * counts as created.
 */
export async function createJson<T>(
  kv: KV,
  key: string,
  value: T,
  retryForMs = 60_000,
): Promise<boolean> {
  const json = JSON.stringify(value);
  const deadline = Date.now() + retryForMs;
  for (let retried = false;; retried = true) {
    try {
      await kv.create(key, json);
      return true;
    } catch (e) {
      if (isUnanswered(e) && Date.now() < deadline) {
        await pause();
        continue;
      }
      if (!isConflict(e)) throw e;
      return retried && (await kv.get(key))?.string() === json;
    }
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
      const current = await getJson<T>(kv, key, Math.max(0, deadline - Date.now()));
      if (!current) throw new Error(`No record ${JSON.stringify(key)}`);
      if (written !== null && JSON.stringify(current.value) === written) return current;
      const next = change(current.value);
      if (next === null) return current;
      written = JSON.stringify(next);
      const revision = await kv.update(key, written, current.revision, RETRIED_CALL_TIMEOUT_MS);
      return { value: next, revision };
    } catch (e) {
      if (isUnanswered(e) && Date.now() < deadline) {
        await pause();
        continue;
      }
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
      await pause();
    }
  }
}

const pause = () => new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));

/** Whether `e` is JetStream's "wrong last sequence" answer to a compare-and-swap. */
function isConflict(e: unknown): boolean {
  return e instanceof Error && /wrong last sequence|10071/.test(
    `${e.message} ${(e as { code?: unknown }).code ?? ""} ${String(e.cause ?? "")}`,
  );
}
