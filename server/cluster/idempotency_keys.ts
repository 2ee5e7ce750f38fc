/**
 * Idempotency keys of job creation: the first request with a key binds it to its job id in a KV
 * bucket (a create, which only one writer can win); a repeat of the key gets that job.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import { createJson, getJson } from "./kv_cas.ts";

/** The KV key of idempotency key `key`: its SHA-256 in hex (any header value fits). */
async function keyOf(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Binds `key` to `jobId` unless it is bound already; returns the job id it is bound to (ours
 * when this call won).
 */
export async function bindIdempotencyKey(kv: KV, key: string, jobId: string): Promise<string> {
  const hashed = await keyOf(key);
  if (await createJson(kv, hashed, jobId)) return jobId;
  const bound = await getJson<string>(kv, hashed);
  if (!bound) throw new Error("Idempotency key expired while it was read; retry the request");
  return bound.value;
}

/** Unbinds `key` (a job creation that failed after binding it). */
export async function releaseIdempotencyKey(kv: KV, key: string): Promise<void> {
  await kv.delete(await keyOf(key));
}
