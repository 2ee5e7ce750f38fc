/**
 * The names of everything the cluster keeps in JetStream: streams, subjects, KV buckets and
 * object stores. One place, so a replica and a worker always agree.
 *
 * @module
 */

/** The work-queue stream of fine-tuning jobs (one subject per base model). */
export const QUEUE_STREAM = "FT_QUEUE";
/** The stream of job events (one subject per job, deduplicated by message id). */
export const EVENTS_STREAM = "FT_EVENTS";
/** KV bucket of job records (`<job id>` → job JSON), every write a compare-and-swap. */
export const JOBS_BUCKET = "ft_jobs";
/** KV bucket of idempotency keys (`<key hash>` → job id). */
export const IDEMPOTENCY_BUCKET = "ft_idempotency";
/** KV bucket indexing adapters (`<adapter token>` → the current revision). */
export const ADAPTER_INDEX_BUCKET = "adapter_index";
/** Object store of adapter revisions (one object per file of a revision). */
export const ADAPTER_FILES_STORE = "adapter_files";
/** Object store of training checkpoints. */
export const CHECKPOINTS_STORE = "checkpoints";
/** Object store of uploaded `/v1/files` contents. */
export const FILES_STORE = "files";
/** KV bucket of live replicas (entries expire when a replica stops refreshing them). */
export const REPLICAS_BUCKET = "replicas";

/**
 * A string as one NATS subject token or KV key: its UTF-8 bytes in lowercase hex, so model and
 * adapter names with `/`, `.` or spaces map one-to-one onto safe tokens.
 */
export function token(name: string): string {
  return [...new TextEncoder().encode(name)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The inverse of {@linkcode token}. */
export function fromToken(hex: string): string {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return new TextDecoder().decode(bytes);
}

/** The queue subject of jobs for base model `modelId`. */
export function queueSubject(modelId: string): string {
  return `ft.queue.${token(modelId)}`;
}

/** The events subject of job `jobId`. */
export function eventsSubject(jobId: string): string {
  return `ft.events.${token(jobId)}`;
}

/** The durable consumer name of the workers of base model `modelId`. */
export function workersConsumer(modelId: string): string {
  return `workers_${token(modelId)}`;
}

/** The generation subject of adapter `name` (replicas holding it listen in a queue group). */
export function adapterSubject(name: string): string {
  return `gen.adapter.${token(name)}`;
}

/** The fallback generation subject, taken by any replica with room. */
export const FALLBACK_SUBJECT = "gen.any";
/** The queue group replicas listen in. */
export const REPLICA_GROUP = "replicas";
