/**
 * The keys of a NATS KV bucket as they are at one moment. `KV.keys()` reads them through a live
 * consumer that ends on a key delivered with nothing pending; when a key is written while that
 * consumer starts (a worker recording a step), nats-server 2.9's pending count stays above zero
 * and the listing goes on, yielding the key again at every write, until the writes have stopped
 * for a while. A snapshot of the bucket stream's subjects has no such wait.
 *
 * @module
 */
import { Bucket, type KV } from "@nats-io/kv";
import { retryUnanswered } from "./kv_cas.ts";

/**
 * Every key of `kv` now, once each, deleted ones included (their reads find none); retried
 * while unanswered, for up to `retryForMs`.
 */
export async function currentKeys(kv: KV, retryForMs = 60_000): Promise<string[]> {
  if (!(kv instanceof Bucket)) throw new TypeError("Not a JetStream KV bucket");
  const info = await retryUnanswered(
    () => kv.jsm.streams.info(kv.stream, { subjects_filter: kv.fullKeyName(">") }),
    retryForMs,
  );
  return Object.keys(info.state.subjects ?? {}).map((subject) =>
    kv.decodeKey(subject.substring(kv.prefixLen))
  );
}
