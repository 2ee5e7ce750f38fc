/**
 * A replica's fine-tuning jobs, kept in the cluster: a request is checked and tokenised here
 * (by the same {@linkcode JobPreparer} as a single server), then submitted to JetStream (its spec
 * to the files store, its record to the jobs bucket, its id to the base model's work queue),
 * where a training worker takes it. Every replica reads the same records and events, so any
 * replica answers for any job. A job whose suffix names a published adapter publishes a new
 * revision of it.
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
import { JobRecords } from "./job_records.ts";
import { EVENTS_STREAM, eventsSubject } from "./names.ts";

/** How long a cancel waits for the job's worker to stop it, in ms. */
const CANCEL_WAIT_MS = 10_000;

/** The cluster's fine-tuning jobs, as a replica serves them. */
export class ClusterFineTuning implements FineTuningService {
  /** The uploaded files, in the cluster's files store. */
  readonly files: ClusterFileStore;
  readonly #cluster: Cluster;
  readonly #preparer: JobPreparer;
  readonly #records: JobRecords;

  /** Jobs in `cluster`, their requests checked and tokenised with `model`'s tokenizer. */
  constructor(cluster: Cluster, model: Model, options: Omit<JobPreparerOptions, "files">) {
    this.#cluster = cluster;
    this.#records = new JobRecords(cluster.jobs);
    this.files = new ClusterFileStore(cluster.files);
    this.#preparer = new JobPreparer(model, { ...options, files: () => this.files });
  }

  /** Checks, tokenises and submits a job; a repeated `idempotencyKey` returns the first job. */
  async create(request: FineTuningRequest, idempotencyKey?: string): Promise<FineTuningJob> {
    const id = randomId("ftjob-");
    const { job, examples, options } = await this.#preparer.prepare(id, request);
    const adapterName = request.suffix ?? `ft-${id.slice(6, 18)}`;
    return await submitJob(this.#cluster, job, { adapterName, examples, options }, idempotencyKey);
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
    await this.#cluster.jobs.delete(id);
    await this.#cluster.files.delete(specName(id)).catch(() => {});
    return { id, object: "fine_tuning.job", deleted: true };
  }

  /** Not offered by a cluster: a 409 (cancel and submit again instead). */
  pause(id: string): Promise<FineTuningJob> {
    return Promise.reject(notInCluster(id, "paused"));
  }

  /** Not offered by a cluster: a 409. */
  resume(id: string): Promise<FineTuningJob> {
    return Promise.reject(notInCluster(id, "resumed"));
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
    if (record.job.status === "cancelled" && record.attempt === 0) {
      const message = "The job was cancelled before it started";
      await publishJobEvent(this.#cluster.js, id, "cancelled", newEvent("info", message));
      return record.job;
    }
    const deadline = Date.now() + CANCEL_WAIT_MS;
    for (;;) {
      const now = await this.get(id);
      if (TERMINAL_STATUSES.includes(now.status) || Date.now() > deadline) return now;
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

function notInCluster(id: string, what: string): ApiError {
  return new ApiError(
    409,
    `Job ${id} cannot be ${what}: a cluster's jobs are cancelled and submitted again instead`,
    { param: "fine_tuning_job_id", code: "unsupported_in_cluster" },
  );
}
