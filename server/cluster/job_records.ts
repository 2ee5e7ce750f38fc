/**
 * Job records in the cluster's KV bucket. Every write is a compare-and-swap, and a worker
 * writes with the attempt number it claimed the job with: once another worker has claimed the
 * job (a higher attempt), the old one's writes fail with {@linkcode StaleAttemptError}, so a
 * "zombie" that lost its job cannot overwrite it.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import type { FineTuningJob, JobStatus } from "../job_store.ts";
import { createJson, getJson, retryUnanswered, updateJson } from "./kv_cas.ts";
import { currentKeys } from "./kv_keys.ts";
import type { FolderManifest } from "./object_folder.ts";

/** A job as the cluster keeps it: the API's job plus who runs it and on which attempt. */
export interface JobRecord {
  /** The job, in OpenAI's shape. */
  job: FineTuningJob;
  /** How many times a worker has claimed it (0 while queued). */
  attempt: number;
  /** The worker running it, or null. */
  owner: string | null;
  /** Set by a cancel request; the owner stops after its current step. */
  cancelRequested: boolean;
  /**
   * Set by a pause request; the owner stops after its current step with a checkpoint and marks
   * the job paused. Absent in records written before pausing existed.
   */
  pauseRequested?: boolean;
  /** The newest checkpoint in the checkpoint store, or null. */
  checkpoint: FolderManifest | null;
}

/** Thrown when a worker writes with an attempt older than the record's. */
export class StaleAttemptError extends Error {
  /** Makes the error for job `id`. */
  constructor(id: string, attempt: number, current: number) {
    super(`Job ${id}: attempt ${attempt} was superseded by attempt ${current}`);
    this.name = "StaleAttemptError";
  }
}

/** The cluster's job records. */
export class JobRecords {
  readonly #kv: KV;
  readonly #retryForMs: number;

  /**
   * Wraps the jobs bucket. Calls that get no answer (a node died, a leader is being elected)
   * are retried for up to `retryForMs`, then fail: a minute for workers, a few seconds for a
   * replica answering a client (who gets a 503 and retries).
   */
  constructor(kv: KV, retryForMs = 60_000) {
    this.#kv = kv;
    this.#retryForMs = retryForMs;
  }

  /** Stores a new queued job; throws when its id exists. */
  async create(job: FineTuningJob): Promise<void> {
    const record: JobRecord = {
      job,
      attempt: 0,
      owner: null,
      cancelRequested: false,
      pauseRequested: false,
      checkpoint: null,
    };
    if (!await createJson(this.#kv, job.id, record, this.#retryForMs)) {
      throw new Error(`Job ${job.id} exists`);
    }
  }

  /** The record of job `id`, or null. */
  async get(id: string): Promise<JobRecord | null> {
    return (await getJson<JobRecord>(this.#kv, id, this.#retryForMs))?.value ?? null;
  }

  /**
   * Every job, newest first: the records of the keys at the call (see `kv_keys.ts`), so a job
   * whose worker keeps writing its record neither holds the list up nor shows in it twice.
   */
  async list(): Promise<FineTuningJob[]> {
    const jobs: FineTuningJob[] = [];
    for (const key of await currentKeys(this.#kv, this.#retryForMs)) {
      const record = await this.get(key);
      if (record) jobs.push(record.job);
    }
    return jobs.sort((a, b) => b.created_at - a.created_at || b.id.localeCompare(a.id));
  }

  /**
   * Deletes the oldest finished records beyond the newest `max` records (queued, running and
   * paused ones are kept whatever their number). Resolves to the ids deleted.
   */
  async prune(max: number): Promise<string[]> {
    const jobs = await this.list();
    const finished = jobs.filter((j) => FINISHED.has(j.status)).reverse(); // oldest first
    const doomed = finished.slice(0, Math.max(0, jobs.length - max)).map((j) => j.id);
    for (const id of doomed) await this.delete(id);
    return doomed;
  }

  /** Deletes the record of job `id` (retried while unanswered: deleting is idempotent). */
  async delete(id: string): Promise<void> {
    await retryUnanswered(() => this.#kv.delete(id), this.#retryForMs);
  }

  /**
   * Claims job `id` for `owner`: bumps the attempt and returns the record as claimed, or null
   * when there is nothing to run: the job is finished, or paused (a resume queues it again).
   */
  async claim(id: string, owner: string): Promise<JobRecord | null> {
    const { value } = await this.#update(
      id,
      (r) => idle(r) ? null : { ...r, attempt: r.attempt + 1, owner },
    );
    return value.owner === owner && !idle(value) ? value : null;
  }

  /**
   * Changes job `id` as the holder of `attempt`: `change` gets the job and returns the fields to
   * set. Throws {@linkcode StaleAttemptError} when another attempt has claimed the job since.
   */
  write(
    id: string,
    attempt: number,
    change: (job: FineTuningJob) => Partial<FineTuningJob>,
  ): Promise<JobRecord> {
    return this.#writeRecord(id, attempt, (r) => ({ ...r, job: { ...r.job, ...change(r.job) } }));
  }

  /** Records checkpoint `manifest` (named `path` in the job) as the holder of `attempt`. */
  setCheckpoint(
    id: string,
    attempt: number,
    manifest: FolderManifest,
    path: string,
  ): Promise<JobRecord> {
    return this.#writeRecord(id, attempt, (r) => ({
      ...r,
      checkpoint: manifest,
      job: { ...r.job, last_checkpoint: path },
    }));
  }

  /** Marks job `id` paused as the holder of `attempt`: its pause request done, no owner. */
  markPaused(id: string, attempt: number): Promise<JobRecord> {
    return this.#writeRecord(id, attempt, (r) => ({
      ...r,
      owner: null,
      pauseRequested: false,
      job: { ...r.job, status: "paused", estimated_finish: null },
    }));
  }

  #update(id: string, change: (record: JobRecord) => JobRecord | null) {
    return updateJson<JobRecord>(this.#kv, id, change, 20, this.#retryForMs);
  }

  async #writeRecord(
    id: string,
    attempt: number,
    change: (record: JobRecord) => JobRecord,
  ): Promise<JobRecord> {
    const { value } = await this.#update(id, (r) => {
      if (r.attempt !== attempt) throw new StaleAttemptError(id, attempt, r.attempt);
      return change(r);
    });
    return value;
  }

  /**
   * Asks the owner of running job `id` to pause after its current step; the record is left as
   * it is unless the job is running. Resolves to the record.
   */
  async requestPause(id: string): Promise<JobRecord> {
    const { value } = await this.#update(
      id,
      (r) => r.job.status === "running" ? { ...r, pauseRequested: true } : null,
    );
    return value;
  }

  /**
   * Marks paused job `id` queued again (to be claimed from its checkpoint). Resolves to the
   * record as queued, or null (and leaves it as it is) when the job is not paused.
   */
  async requeuePaused(id: string): Promise<JobRecord | null> {
    return await this.#switchStatus(id, "paused", "queued");
  }

  /** Marks job `id`, requeued by a resume whose queuing failed, paused again. */
  async requeueFailed(id: string): Promise<void> {
    await this.#switchStatus(id, "queued", "paused");
  }

  async #switchStatus(id: string, from: JobStatus, to: JobStatus): Promise<JobRecord | null> {
    let switched = false;
    const { value } = await this.#update(id, (r) => {
      switched = r.job.status === from;
      return switched ? { ...r, job: { ...r.job, status: to } } : null;
    });
    return switched ? value : null;
  }

  /**
   * Asks the owner of job `id` to stop after its current step, or cancels it at once when it
   * has none (queued or paused).
   */
  async requestCancel(id: string): Promise<JobRecord> {
    const { value } = await this.#update(id, (r) => {
      if (FINISHED.has(r.job.status)) return null;
      if (r.job.status === "queued" || r.job.status === "paused") {
        const finished_at = Math.floor(Date.now() / 1000);
        return { ...r, cancelRequested: true, job: { ...r.job, status: "cancelled", finished_at } };
      }
      return { ...r, cancelRequested: true };
    });
    return value;
  }
}

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** Whether record `r` has nothing for a worker to run: finished, or paused. */
const idle = (r: JobRecord) => FINISHED.has(r.job.status) || r.job.status === "paused";
