/**
 * What the fine-tuning and file routes need from whoever keeps the jobs: the single server's
 * {@linkcode FineTuner} (jobs in files, training in the same process) or a cluster replica's
 * jobs in NATS JetStream (training on workers). Calls may answer at once or with a promise.
 *
 * @module
 */
import type { Context } from "hono";
import type { FileStore } from "./file_store.ts";
import type { JobCheckpoint } from "./fine_tuner.ts";
import type { FineTuningJob, JobEvent } from "./job_store.ts";
import type { FineTuningRequest } from "./request_schemas.ts";

/** A value now or later. */
export type Eventually<T> = T | Promise<T>;

/** The uploaded files of `/v1/files`: {@linkcode FileStore}'s methods. */
export type FileService = Pick<FileStore, "create" | "list" | "get" | "content" | "delete">;

/** A job's deletion, as OpenAI answers it. */
export interface DeletedJob {
  /** The job's id. */
  id: string;
  /** Always "fine_tuning.job". */
  object: "fine_tuning.job";
  /** Always true. */
  deleted: true;
}

/** The fine-tuning jobs behind `/v1/fine_tuning` and the files behind `/v1/files`. */
export interface FineTuningService {
  /** Checks a request and queues its job; `idempotencyKey` makes repeats return the first job. */
  create(request: FineTuningRequest, idempotencyKey?: string): Promise<FineTuningJob>;
  /** Every job, newest first. */
  list(): Eventually<FineTuningJob[]>;
  /** The job `id`; a 404 `ApiError` when there is none. */
  get(id: string): Eventually<FineTuningJob>;
  /** The events of job `id`, oldest first (404 when there is no such job). */
  events(id: string): Eventually<JobEvent[]>;
  /** Job `id`'s events as server-sent events, live until it ends. */
  eventStream(c: Context, id: string): Eventually<Response>;
  /** The checkpoints of job `id`, newest first. */
  checkpoints(id: string): Eventually<JobCheckpoint[]>;
  /** Deletes a finished job's record. */
  delete(id: string): Promise<DeletedJob>;
  /** Pauses a running job. */
  pause(id: string): Promise<FineTuningJob>;
  /** Queues a paused job again. */
  resume(id: string): Promise<FineTuningJob>;
  /** Cancels a queued or running job. */
  cancel(id: string): Promise<FineTuningJob>;
  /** The uploaded files. */
  readonly files: FileService;
}
