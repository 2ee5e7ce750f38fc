/**
 * A replica's fine-tuning jobs, kept in the cluster: a request is checked and tokenised here
 * (by the same {@linkcode JobPreparer} as a single server), then submitted to JetStream (its spec
 * to the files store, its record to the jobs bucket, its id to the base model's work queue),
 * where a training worker takes it. Every replica reads the same records and events, so any
 * replica answers for any job. A job whose suffix names a published adapter publishes a new
 * revision of it. A pause asks the job's worker to stop after its current step with a
 * checkpoint; a resume queues the job again, and the worker that takes it goes on from there.
 *
 * @module
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { DeliverPolicy } from "@nats-io/jetstream";
import { ApiError } from "../errors.ts";
import type { JobCheckpoint } from "../fine_tuner.ts";
import type { DeletedJob, FineTuningService } from "../fine_tuning_service.ts";
import type { Model } from "../../mod.ts";
import { JobPreparer, type JobPreparerOptions } from "../job_preparer.ts";
import { type FineTuningJob, type JobEvent, randomId, TERMINAL_STATUSES } from "../job_store.ts";
import type { FineTuningRequest } from "../request_schemas.ts";
import { ClusterFileStore } from "./cluster_files.ts";
import { specName, submitJob } from "./create_job.ts";
import type { Cluster } from "./jetstream_setup.ts";
import { newEvent, publishJobEvent, readJobEvents } from "./job_events.ts";
import { enqueueJob, queueDepth } from "./job_queue.ts";
import { JobRecords } from "./job_records.ts";
import { EVENTS_STREAM, eventsSubject } from "./names.ts";

/**
 * How long a client's call retries job record reads and writes that get no answer, in ms; then
 * it answers 503 `cluster_unavailable`. It covers a client's node dying, not a leader election.
 */
const API_RETRY_FOR_MS = 3000;

/** How long a cancel or a pause waits for the job's worker to stop it, in ms. */
const STOP_WAIT_MS = 10_000;

/** Settings of {@linkcode ClusterFineTuning}: the preparer's, and the limits of the queue. */
export interface ClusterFineTuningOptions extends Omit<JobPreparerOptions, "files"> {
  /** Jobs that may wait in the model's queue; one more is refused with a 429. */
  maxQueuedJobs: number;
  /** Job records kept: past it, the oldest finished ones are deleted when a job is created. */
  maxJobRecords: number;
}

/** The cluster's fine-tuning jobs, as a replica serves them. */
export class ClusterFineTuning implements FineTuningService {
  /** The uploaded files, in the cluster's files store. */
  readonly files: ClusterFileStore;
  readonly #cluster: Cluster;
  readonly #preparer: JobPreparer;
  readonly #records: JobRecords;
  readonly #options: ClusterFineTuningOptions;

  /** Jobs in `cluster`, their requests checked and tokenised with `model`'s tokenizer. */
  constructor(cluster: Cluster, model: Model, options: ClusterFineTuningOptions) {
    this.#cluster = cluster;
    this.#records = new JobRecords(cluster.jobs, API_RETRY_FOR_MS);
    this.#options = options;
    this.files = new ClusterFileStore(cluster.files);
    this.#preparer = new JobPreparer(model, { ...options, files: () => this.files });
  }

  /**
   * Checks, tokenises and submits a job; a repeated `idempotencyKey` returns the first job. A
   * 429 `too_many_jobs` when `maxQueuedJobs` wait in the queue already (counted before the job
   * is prepared, so replicas creating jobs at the same moment may pass it by that many).
   */
  async create(request: FineTuningRequest, idempotencyKey?: string): Promise<FineTuningJob> {
    this.#preparer.checkModel(request);
    const max = this.#options.maxQueuedJobs;
    if (await queueDepth(this.#cluster.jsm, this.#options.modelId) >= max) {
      throw new ApiError(
        429,
        `Too many fine-tuning jobs are waiting (at most ${max}); retry once one has started`,
        { code: "too_many_jobs" },
      );
    }
    const id = randomId("ftjob-");
    const { job, examples, options } = await this.#preparer.prepare(id, request);
    const adapterName = request.suffix ?? `ft-${id.slice(6, 18)}`;
    const spec = { adapterName, examples, options };
    const created = await submitJob(this.#cluster, job, spec, idempotencyKey, this.#records);
    for (const doomed of await this.#records.prune(this.#options.maxJobRecords)) {
      await this.#cluster.files.delete(specName(doomed)).catch(() => {});
    }
    return created;
  }

  /** Every job, newest first. */
  list(): Promise<FineTuningJob[]> {
    return this.#records.list();
  }

  /** The job `id`; a 404 {@linkcode ApiError} when there is none. */
  async get(id: string): Promise<FineTuningJob> {
    const record = await this.#records.get(id);
    if (!record) throw jobNotFound(id);
    return record.job;
  }

  /** The events of job `id`, oldest first. */
  async events(id: string): Promise<JobEvent[]> {
    await this.get(id);
    return await readJobEvents(this.#cluster.js, id);
  }

  /**
   * Job `id`'s events as server-sent events: every event so far, then each new one, then
   * `data: [DONE]` after the event that ends the job.
   */
  async eventStream(c: Context, id: string): Promise<Response> {
    const job = await this.get(id);
    const consumer = await this.#cluster.js.consumers.get(EVENTS_STREAM, {
      filter_subjects: eventsSubject(id),
      deliver_policy: DeliverPolicy.All,
    });
    // A job that ended without a closing event (deleted events) ends the stream at its last one.
    const pending = (await consumer.info(true)).num_pending;
    const ended = TERMINAL_STATUSES.includes(job.status);
    return streamSSE(c, async (stream) => {
      const messages = await consumer.consume();
      stream.onAbort(() => messages.stop());
      let seen = 0;
      try {
        for await (const m of messages) {
          seen++;
          await stream.writeSSE({ data: new TextDecoder().decode(m.data) });
          const key = m.headers?.get("Nats-Msg-Id").slice(id.length + 1) ?? "";
          if (CLOSING_KEYS.has(key) || (ended && seen >= pending)) break;
        }
        if (!stream.aborted) await stream.writeSSE({ data: "[DONE]" });
      } finally {
        messages.stop();
      }
    });
  }

  /** The newest checkpoint of job `id` (kept in the checkpoint store, for resuming). */
  async checkpoints(id: string): Promise<JobCheckpoint[]> {
    const record = await this.#records.get(id);
    if (!record) throw jobNotFound(id);
    if (record.checkpoint === null) return [];
    const step = Number(/checkpoint-(\d+)$/.exec(record.checkpoint.prefix)?.[1]);
    const event = (await readJobEvents(this.#cluster.js, id)).findLast((e) =>
      e.data?.step === step
    );
    return [{
      object: "fine_tuning.job.checkpoint",
      id: `ftckpt-${id.slice("ftjob-".length)}-${step}`,
      created_at: event?.created_at ?? record.job.created_at,
      fine_tuned_model_checkpoint: `${id}:ckpt-step-${step}`,
      fine_tuning_job_id: id,
      step_number: step,
      metrics: { step, ...(event?.data ?? {}) },
    }];
  }

  /** Deletes a finished job's record and spec (its events and adapter stay); 409 otherwise. */
  async delete(id: string): Promise<DeletedJob> {
    const job = await this.get(id);
    if (!TERMINAL_STATUSES.includes(job.status)) {
      throw new ApiError(409, `Job ${id} is ${job.status}: cancel it before deleting it`, {
        param: "fine_tuning_job_id",
        code: "job_not_finished",
      });
    }
    await this.#records.delete(id);
    await this.#cluster.files.delete(specName(id)).catch(() => {});
    return { id, object: "fine_tuning.job", deleted: true };
  }

  /**
   * Asks running job `id`'s worker to stop after its current step, writing a checkpoint, and
   * returns the job once it is paused (or after 10 s, still running); a 409 unless running.
   */
  async pause(id: string): Promise<FineTuningJob> {
    await this.get(id);
    const record = await this.#records.requestPause(id);
    if (record.job.status !== "running") {
      throw new ApiError(
        409,
        `Job ${id} is ${record.job.status}; only a running job can be paused`,
        {
          param: "fine_tuning_job_id",
          code: "job_not_running",
        },
      );
    }
    return await this.#awaitStop(id, (job) => job.status === "paused");
  }

  /**
   * Queues paused job `id` again, to go on from its checkpoint on whichever worker takes it; a
   * 409 unless paused.
   */
  async resume(id: string): Promise<FineTuningJob> {
    const job = await this.get(id);
    const record = await this.#records.requeuePaused(id);
    if (!record) {
      throw new ApiError(409, `Job ${id} is ${job.status}; only a paused job can be resumed`, {
        param: "fine_tuning_job_id",
        code: "job_not_paused",
      });
    }
    try {
      await enqueueJob(this.#cluster.js, record.job.model, id, `resume-${record.attempt}`);
    } catch (e) {
      await this.#records.requeueFailed(id);
      throw e;
    }
    const from = record.job.last_checkpoint ?? "the start";
    const message = `The job was resumed from ${from}`;
    await publishJobEvent(
      this.#cluster.js,
      id,
      `resumed-${record.attempt}`,
      newEvent("info", message),
    );
    return record.job;
  }

  /**
   * Cancels a queued job at once, or asks a running job's worker to stop after its current
   * step and returns the job once it has (or after 10 s, still running).
   */
  async cancel(id: string): Promise<FineTuningJob> {
    const job = await this.get(id);
    if (TERMINAL_STATUSES.includes(job.status)) {
      throw new ApiError(
        400,
        `Job ${id} has already ${job.status === "cancelled" ? "been cancelled" : job.status}`,
        { param: "fine_tuning_job_id", code: "job_finished" },
      );
    }
    const record = await this.#records.requestCancel(id);
    if (record.job.status === "cancelled" && job.status !== "running") {
      const message = job.status === "paused"
        ? `The paused job was cancelled; last checkpoint ${job.last_checkpoint}`
        : "The job was cancelled before it started";
      await publishJobEvent(this.#cluster.js, id, "cancelled", newEvent("info", message));
      return record.job;
    }
    return await this.#awaitStop(id, (now) => TERMINAL_STATUSES.includes(now.status));
  }

  /** Job `id` once `stopped` holds for it or it has ended, or after 10 s as it is then. */
  async #awaitStop(id: string, stopped: (job: FineTuningJob) => boolean): Promise<FineTuningJob> {
    const deadline = Date.now() + STOP_WAIT_MS;
    for (;;) {
      const now = await this.get(id);
      if (stopped(now) || TERMINAL_STATUSES.includes(now.status) || Date.now() > deadline) {
        return now;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The keys of the events that end a job (see `TrainingWorker`). */
const CLOSING_KEYS = new Set(["succeeded", "failed", "cancelled"]);

function jobNotFound(id: string): ApiError {
  return new ApiError(404, `No fine-tuning job ${JSON.stringify(id)}`, {
    param: "fine_tuning_job_id",
    code: "job_not_found",
  });
}
