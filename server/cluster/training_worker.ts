/**
 * A training worker: it takes jobs of its base model from the cluster's work queue, claims each
 * (bumping the job's attempt, which fences out the worker it took the job from), resumes from
 * the job's last checkpoint in the checkpoint store, trains with heartbeats flowing, checkpoints
 * every N steps, and publishes the adapter as a new revision in the adapter store. A worker that
 * dies leaves its job unacknowledged; JetStream hands it to another worker after `ack_wait`.
 *
 * @module
 */
import {
  type Model,
  serializePeftAdapter,
  serializeTrainingState,
  type TrainingState,
  trainLora,
  type TrainStepEvent,
} from "../../mod.ts";
import { AdapterStore } from "./adapter_store.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint_store.ts";
import { loadJobSpec } from "./create_job.ts";
import type { Cluster } from "./jetstream_setup.ts";
import { newEvent, publishJobEvent } from "./job_events.ts";
import { JobQueue, type QueuedJob, type QueueOptions } from "./job_queue.ts";
import { type JobRecord, JobRecords, StaleAttemptError } from "./job_records.ts";
import { deleteFolder, type FolderManifest } from "./object_folder.ts";

/** Settings of a {@linkcode TrainingWorker}. */
export interface TrainingWorkerOptions {
  /** This worker's name in job records. */
  workerId: string;
  /** The base model's id (the queue it serves). */
  modelId: string;
  /** Checkpoint every N steps (and at the end); 0 for only at the end. */
  checkpointEvery: number;
  /** The queue's ack wait and attempts. */
  queue?: QueueOptions;
  /** Receives what the worker cannot record in a job. */
  warn: (message: string) => void;
}

const now = () => Math.floor(Date.now() / 1000);

/** Runs the fine-tuning jobs of one base model, taken from the cluster's queue. */
export class TrainingWorker {
  readonly #cluster: Cluster;
  readonly #model: Model;
  readonly #queue: JobQueue;
  readonly #records: JobRecords;
  readonly #adapters: AdapterStore;
  readonly #options: TrainingWorkerOptions;

  private constructor(cluster: Cluster, model: Model, queue: JobQueue, o: TrainingWorkerOptions) {
    this.#cluster = cluster;
    this.#model = model;
    this.#queue = queue;
    this.#records = new JobRecords(cluster.jobs);
    this.#adapters = new AdapterStore(cluster.adapterIndex, cluster.adapterFiles);
    this.#options = o;
  }

  /** Opens the queue of `options.modelId` for a worker training `model` (a WebGPU model). */
  static async open(
    cluster: Cluster,
    model: Model,
    options: TrainingWorkerOptions,
  ): Promise<TrainingWorker> {
    if (!model.gpu) throw new Error("A training worker needs a model on the WebGPU backend");
    const queue = await JobQueue.open(cluster.js, cluster.jsm, options.modelId, options.queue);
    return new TrainingWorker(cluster, model, queue, options);
  }

  /** Takes and runs jobs until `signal` aborts (a running job is left to be redelivered). */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const queued = await this.#queue.next(1000);
      if (queued) await this.runJob(queued, signal);
    }
  }

  /** Runs one job taken from the queue, acking it once it is finished. */
  async runJob(queued: QueuedJob, signal: AbortSignal): Promise<void> {
    const { jobId } = queued;
    try {
      const record = await this.#records.claim(jobId, this.#options.workerId);
      if (!record) return await queued.ack(); // finished meanwhile: nothing to run
      if (queued.exhausted) {
        const n = queued.delivery - 1;
        const message = `Gave up after ${n} attempt${n === 1 ? "" : "s"}: every worker stopped`;
        await this.#finish(record, "failed", message, { code: "attempts_exhausted", message });
      } else if (record.cancelRequested) {
        await this.#finish(record, "cancelled", "The job was cancelled before it started");
      } else if (!await this.#train(record, signal)) {
        return queued.abandon(); // shut down mid-job: another worker resumes it
      }
      await queued.ack();
    } catch (e) {
      queued.abandon();
      if (e instanceof StaleAttemptError) {
        this.#options.warn(`${e.message}; this worker stops it`);
      } else {
        this.#options.warn(`Job ${jobId} could not be run: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Trains the claimed job to its end, or until a pause request (it stops with a checkpoint);
   * false when `signal` stopped it (not finished).
   */
  async #train(record: JobRecord, signal: AbortSignal): Promise<boolean> {
    const { job, attempt } = record;
    const id = job.id;
    const model = this.#model;
    const spec = await loadJobSpec(this.#cluster, id);
    let resume: TrainingState | undefined;
    if (record.checkpoint) {
      resume = await loadCheckpoint(this.#cluster.checkpoints, record.checkpoint, model.config);
    }
    await this.#records.write(id, attempt, () => ({ status: "running" }));
    const started = resume
      ? `Fine-tuning job resumed from step ${resume.step} (attempt ${attempt})`
      : "Fine-tuning job started";
    await publishJobEvent(this.#cluster.js, id, `started-${attempt}`, newEvent("info", started));
    const controller = new AbortController();
    const stop = () => controller.abort("shutdown");
    signal.addEventListener("abort", stop);
    let checkpoint: FolderManifest | null = record.checkpoint;
    try {
      const run = trainLora(model, spec.examples, {
        ...spec.options,
        resume,
        signal: controller.signal,
        checkpointEvery: this.#options.checkpointEvery,
        onCheckpoint: async (state) => {
          const files = serializeTrainingState(state, model.config, this.#options.modelId);
          const saved = await saveCheckpoint(this.#cluster.checkpoints, id, state.step, files);
          // The record names the new checkpoint before the old one goes, so it never names a gap.
          await this.#records.setCheckpoint(id, attempt, saved, `checkpoints/${saved.prefix}`);
          if (checkpoint && checkpoint.prefix !== saved.prefix) {
            await deleteFolder(this.#cluster.checkpoints, checkpoint);
          }
          checkpoint = saved;
        },
      });
      for (let next = await run.next();; next = await run.next()) {
        if (!next.done) {
          const current = await this.#step(record, next.value);
          if (current.cancelRequested) controller.abort("cancel");
          else if (current.pauseRequested) controller.abort("pause");
          continue;
        }
        if (next.value.status === "cancelled") {
          if (controller.signal.reason === "shutdown") return false;
          if (controller.signal.reason === "pause") {
            await this.#records.markPaused(id, attempt);
            const message = `The job was paused at step ${next.value.steps}; last checkpoint ` +
              `checkpoints/${checkpoint?.prefix}`;
            await publishJobEvent(
              this.#cluster.js,
              id,
              `paused-${next.value.steps}`,
              newEvent("info", message),
            );
            return true; // acked: a resume queues the job again
          }
          await this.#finish(
            record,
            "cancelled",
            `The job was cancelled at step ${next.value.steps}`,
          );
          return true;
        }
        const files = serializePeftAdapter(next.value.adapter, model.config, this.#options.modelId);
        const published = await this.#adapters.publish(spec.adapterName, files);
        await this.#finish(
          record,
          "succeeded",
          `The job has successfully completed: model ${spec.adapterName} ` +
            `(revision ${published.revision})`,
          null,
          { fine_tuned_model: spec.adapterName, result_files: [spec.adapterName] },
        );
        return true;
      }
    } catch (e) {
      if (e instanceof StaleAttemptError) throw e;
      const message = `Training failed: ${(e as Error).message}`;
      await this.#finish(record, "failed", message, { code: "training_failed", message });
      return true;
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }

  /** Records step `e`: its event (deduplicated by step) and the job's progress. */
  async #step(record: JobRecord, e: TrainStepEvent): Promise<JobRecord> {
    const id = record.job.id;
    const message = `Step ${e.step}/${e.totalSteps}` +
      (e.loss === undefined ? "" : `: training loss=${e.loss.toFixed(4)}`);
    await publishJobEvent(
      this.#cluster.js,
      id,
      `step-${e.step}`,
      newEvent("info", message, {
        step: e.step,
        total_steps: e.totalSteps,
        epoch: e.epoch,
        ...(e.loss !== undefined ? { train_loss: e.loss, grad_norm: e.gradNorm! } : {}),
        learning_rate: e.lr,
        tokens_per_second: e.tokensPerSecond,
        elapsed_seconds: e.elapsedSeconds,
        eta_seconds: e.etaSeconds,
      }),
    );
    return await this.#records.write(id, record.attempt, () => ({
      trained_tokens: Math.round(e.tokensPerSecond * e.elapsedSeconds),
      estimated_finish: now() + Math.round(e.etaSeconds),
    }));
  }

  /** Ends the job with `status`, its event logged once per attempt. */
  async #finish(
    record: JobRecord,
    status: "succeeded" | "failed" | "cancelled",
    message: string,
    error: { code: string; message: string } | null = null,
    fields: { fine_tuned_model?: string; result_files?: string[] } = {},
  ): Promise<void> {
    const { job, attempt } = record;
    await this.#records.write(job.id, attempt, () => ({
      ...fields,
      status,
      finished_at: now(),
      estimated_finish: null,
      error: error && { ...error, param: null },
    }));
    const level = status === "failed" ? "error" : "info";
    await publishJobEvent(this.#cluster.js, job.id, status, newEvent(level, message));
  }
}
