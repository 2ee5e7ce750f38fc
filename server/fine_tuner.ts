/**
 * Fine-tuning jobs: a request is checked and its data loaded and tokenised at once (by a
 * {@linkcode JobPreparer}; bad data is a 400, not a failed job), then jobs run one at a time. Each optimizer step runs in
 * its own scheduler turn, so generation requests keep being served while a job trains. A job
 * writes a checkpoint every `checkpointEvery` steps (keeping the newest), and on success saves
 * its adapter to the adapters directory, where it is loaded and listed at once.
 *
 * @module
 */
import { join } from "node:path";
import type { Context } from "hono";
import {
  dirModelSource,
  type Model,
  readTrainingState,
  serializeTrainingState,
  type TokenizedExample,
  trainLora,
  type TrainLoraOptions,
  writeFolderAtomic,
} from "../mod.ts";
import type { AdapterRegistry } from "./adapter_registry.ts";
import { checkpointFolder, checkpointModelId, checkpointStep } from "./checkpoint_ids.ts";
import { FileStore } from "./file_store.ts";
import { ApiError } from "./errors.ts";
import type { DeletedJob, FineTuningService } from "./fine_tuning_service.ts";
import type { GpuScheduler } from "./gpu_scheduler.ts";
import { jobEventStream } from "./job_event_stream.ts";
import { JobPreparer } from "./job_preparer.ts";
import {
  type FineTuningJob,
  type JobEvent,
  type JobStore,
  randomId,
  TERMINAL_STATUSES,
} from "./job_store.ts";
import type { FineTuningRequest } from "./request_schemas.ts";

/** Settings of a {@linkcode FineTuner}. */
export interface FineTunerOptions {
  /** The base model's id. */
  modelId: string;
  /** The folder `training_file` names are read from, or null to accept inline data only. */
  dataDir: string | null;
  /** Checkpoint every N steps (and at the end); 0 for only at the end. */
  checkpointEvery: number;
  /** The longest `max_length` a job may ask for. */
  maxLength: number;
  /** Largest data file read, in bytes. */
  maxFileBytes: number;
  /** Jobs waiting to run at most (those still being prepared count); more get 429. */
  maxQueuedJobs: number;
  /** Job records kept; beyond it the oldest finished jobs are deleted. */
  maxJobRecords: number;
  /** Receives problems that concern no request (a job record that cannot be written). */
  warn: (message: string) => void;
}

interface PendingJob {
  id: string;
  examples: TokenizedExample[];
  options: TrainLoraOptions;
  adapterName: string;
}

interface RunningJob {
  id: string;
  controller: AbortController;
  done: Promise<void>;
}

/** The folder of uploaded files, inside the data directory. */
export const FILES_FOLDER = ".files";

/** A checkpoint of a job, shaped like OpenAI's `fine_tuning.job.checkpoint`. */
export interface JobCheckpoint {
  /** Always "fine_tuning.job.checkpoint". */
  object: "fine_tuning.job.checkpoint";
  /** `ftckpt-…`. */
  id: string;
  /** Unix seconds. */
  created_at: number;
  /** The model id that serves it: `<job id>:ckpt-step-<step>`. */
  fine_tuned_model_checkpoint: string;
  /** Its job. */
  fine_tuning_job_id: string;
  /** The optimizer step it was taken after. */
  step_number: number;
  /** The step's metrics (step, train_loss, learning_rate…). */
  metrics: Record<string, number>;
}

const now = () => Math.floor(Date.now() / 1000);

/** Creates, runs and cancels fine-tuning jobs on one model. */
export class FineTuner implements FineTuningService {
  /** The jobs and their events. */
  readonly store: JobStore;
  readonly #model: Model;
  readonly #scheduler: GpuScheduler;
  readonly #registry: AdapterRegistry;
  readonly #options: FineTunerOptions;
  readonly #preparer: JobPreparer;
  readonly #queue: PendingJob[] = [];
  readonly #reserved = new Set<string>(); // adapter names of queued, running and paused jobs
  readonly #paused = new Map<string, PendingJob>(); // paused jobs, with their data, to resume
  readonly #files: FileStore | null;
  #preparing = 0; // requests being checked and tokenised, to be queued
  #running: RunningJob | null = null;
  #worker: Promise<void> | null = null;

  /** Makes a fine-tuner; jobs train `model` in `background` turns of `scheduler`. */
  constructor(
    model: Model,
    scheduler: GpuScheduler,
    registry: AdapterRegistry,
    store: JobStore,
    options: FineTunerOptions,
  ) {
    this.#model = model;
    this.#scheduler = scheduler;
    this.#registry = registry;
    this.store = store;
    this.#options = options;
    this.#files = options.dataDir === null
      ? null
      : new FileStore(join(options.dataDir, FILES_FOLDER));
    this.#preparer = new JobPreparer(model, { ...options, files: () => this.files });
  }

  /**
   * Checks a request, loads and tokenises its data, and queues the job. Everything is checked
   * before the backend, so a CPU server still reports bad data and paths.
   */
  async create(request: FineTuningRequest): Promise<FineTuningJob> {
    this.#preparer.checkModel(request);
    const max = this.#options.maxQueuedJobs;
    if (this.#queue.length + this.#preparing >= max) {
      throw new ApiError(
        429,
        `Too many fine-tuning jobs are waiting (at most ${max}); retry once one has started`,
        { code: "too_many_jobs" },
      );
    }
    this.#preparing++;
    const id = randomId("ftjob-");
    const adapterName = request.suffix ?? `ft-${id.slice(6, 18)}`;
    try {
      await this.#reserveName(adapterName);
      try {
        return await this.#queueJob(id, adapterName, request);
      } catch (e) {
        this.#reserved.delete(adapterName);
        throw e;
      }
    } finally {
      this.#preparing--;
    }
  }

  /**
   * Deletes a finished job's record, events and checkpoints (its adapter stays); a 409 for a
   * job still queued or running.
   */
  async delete(id: string): Promise<DeletedJob> {
    const job = this.get(id);
    if (!TERMINAL_STATUSES.includes(job.status)) {
      throw new ApiError(409, `Job ${id} is ${job.status}: cancel it before deleting it`, {
        param: "fine_tuning_job_id",
        code: "job_not_finished",
      });
    }
    await this.store.delete(id);
    return { id, object: "fine_tuning.job", deleted: true };
  }

  async #queueJob(
    id: string,
    adapterName: string,
    request: FineTuningRequest,
  ): Promise<FineTuningJob> {
    const { job, examples, options } = await this.#preparer.prepare(id, request);
    await this.store.create(job);
    await this.store.prune(this.#options.maxJobRecords);
    await this.store.addEvent(
      id,
      "info",
      `Created fine-tuning job ${id} on ${examples.length} examples`,
    );
    this.#queue.push({ id, examples, adapterName, options });
    this.#worker ??= this.#work();
    return job;
  }

  /**
   * Cancels a queued or running job and returns it once it has stopped (a running job stops
   * after its current step, writing a last checkpoint).
   */
  async cancel(id: string): Promise<FineTuningJob> {
    const job = this.get(id);
    if (TERMINAL_STATUSES.includes(job.status)) {
      throw new ApiError(
        400,
        `Job ${id} has already ${job.status === "cancelled" ? "been cancelled" : job.status}`,
        {
          param: "fine_tuning_job_id",
          code: "job_finished",
        },
      );
    }
    const at = this.#queue.findIndex((p) => p.id === id);
    if (at >= 0) {
      const [pending] = this.#queue.splice(at, 1);
      this.#reserved.delete(pending.adapterName);
      return await this.store.update(id, { status: "cancelled", finished_at: now() }, {
        level: "info",
        message: "The job was cancelled before it started",
      });
    }
    const paused = this.#paused.get(id);
    if (paused) {
      this.#paused.delete(id);
      this.#reserved.delete(paused.adapterName);
      return await this.store.update(id, { status: "cancelled", finished_at: now() }, {
        level: "info",
        message: `The paused job was cancelled; last checkpoint ${job.last_checkpoint}`,
      });
    }
    if (this.#running?.id === id) {
      this.#running.controller.abort("cancel");
      await this.#running.done;
    }
    return this.get(id);
  }

  /**
   * Pauses a running job: it stops after its current step, writing a checkpoint, and keeps its
   * data (in memory: a restart ends it) and its adapter name until it is resumed or cancelled.
   */
  async pause(id: string): Promise<FineTuningJob> {
    const job = this.get(id);
    if (job.status !== "running" || this.#running?.id !== id) {
      throw new ApiError(409, `Job ${id} is ${job.status}; only a running job can be paused`, {
        param: "fine_tuning_job_id",
        code: "job_not_running",
      });
    }
    this.#running.controller.abort("pause");
    await this.#running.done;
    return this.get(id);
  }

  /** Queues a paused job again, to continue from its checkpoint. */
  async resume(id: string): Promise<FineTuningJob> {
    const job = this.get(id);
    const pending = this.#paused.get(id);
    if (job.status !== "paused" || !pending) {
      throw new ApiError(409, `Job ${id} is ${job.status}; only a paused job can be resumed`, {
        param: "fine_tuning_job_id",
        code: "job_not_paused",
      });
    }
    const resume = job.last_checkpoint === null ? undefined : await readTrainingState(
      dirModelSource(join(this.#registry.adaptersDir, job.last_checkpoint)),
      this.#model.config,
    );
    this.#paused.delete(id);
    this.#queue.push({ ...pending, options: { ...pending.options, resume } });
    const resumed = await this.store.update(id, { status: "queued" }, {
      level: "info",
      message: `The job was resumed from ${job.last_checkpoint ?? "the start"}`,
    });
    this.#worker ??= this.#work();
    return resumed;
  }

  /** Stops the worker: the running job is marked failed as interrupted; queued jobs stay queued. */
  async close(): Promise<void> {
    this.#preparer.close();
    this.#queue.length = 0;
    this.#running?.controller.abort("shutdown");
    await this.#worker;
  }

  /** The uploaded files, kept under the data directory (a 400 when the server has none). */
  get files(): FileStore {
    if (this.#files === null) {
      throw new ApiError(400, "This server has no --data-dir to keep uploaded files in", {
        code: "files_unavailable",
      });
    }
    return this.#files;
  }

  /**
   * The checkpoints of job `id`, newest first, as OpenAI's `fine_tuning.job.checkpoint`
   * objects: the job keeps its newest one, which is servable under the model id
   * `<job id>:ckpt-step-<step>`.
   */
  checkpoints(id: string): JobCheckpoint[] {
    const job = this.get(id);
    const step = job.last_checkpoint === null ? null : checkpointStep(job.last_checkpoint);
    if (step === null) return [];
    const event = this.store.events(id).findLast((e) => e.data?.step === step);
    return [{
      object: "fine_tuning.job.checkpoint",
      id: `ftckpt-${id.slice("ftjob-".length)}-${step}`,
      created_at: event?.created_at ?? job.created_at,
      fine_tuned_model_checkpoint: checkpointModelId(id, step),
      fine_tuning_job_id: id,
      step_number: step,
      metrics: { step, ...(event?.data ?? {}) },
    }];
  }

  /** The job `id`; a 404 {@linkcode ApiError} when there is none. */
  get(id: string): FineTuningJob {
    const job = this.store.get(id);
    if (!job) {
      throw new ApiError(404, `No fine-tuning job ${JSON.stringify(id)}`, {
        param: "fine_tuning_job_id",
        code: "job_not_found",
      });
    }
    return job;
  }

  /** Every job, newest first. */
  list(): FineTuningJob[] {
    return this.store.list();
  }

  /** The events of job `id`, oldest first (404 when there is no such job). */
  events(id: string): JobEvent[] {
    this.get(id);
    return this.store.events(id);
  }

  /** Job `id`'s events as server-sent events (404 when there is no such job). */
  eventStream(c: Context, id: string): Response {
    this.get(id);
    return jobEventStream(c, this.store, id);
  }

  /**
   * Reserves an adapter name for a new job; a 409 when an adapter, a job, or anything at all in
   * the adapters directory (a folder or file the server did not write) already has it, so that
   * a job never replaces what it names.
   */
  async #reserveName(name: string): Promise<void> {
    const names = await this.#registry.names();
    const onDisk = await Deno.lstat(join(this.#registry.adaptersDir, name)).then(
      () => true,
      (e) => {
        if (e instanceof Deno.errors.NotFound) return false;
        throw e;
      },
    );
    if (
      name === this.#options.modelId || names.includes(name) || this.#reserved.has(name) ||
      onDisk || this.store.list().some((j) => j.fine_tuned_model === name)
    ) {
      throw new ApiError(
        409,
        `Model name ${JSON.stringify(name)} is already taken; choose another suffix`,
        { param: "suffix", code: "name_taken" },
      );
    }
    this.#reserved.add(name);
  }

  async #work(): Promise<void> {
    try {
      for (let next = this.#queue.shift(); next; next = this.#queue.shift()) {
        const { id, adapterName } = next;
        const controller = new AbortController();
        const done = this.#run(next, controller.signal).catch((e) =>
          this.#options.warn(`Job ${id} could not be recorded: ${(e as Error).message}`)
        );
        this.#running = { id, controller, done };
        await done;
        this.#running = null;
        if (!this.#paused.has(id)) this.#reserved.delete(adapterName);
      }
    } finally {
      this.#worker = null;
    }
  }

  async #run(pending: PendingJob, signal: AbortSignal): Promise<void> {
    const { id } = pending;
    const model = this.#model;
    const adaptersDir = this.#registry.adaptersDir;
    let checkpoint = this.get(id).last_checkpoint; // a resumed job's, replaced by its next
    try {
      await this.store.update(id, { status: "running" }, {
        level: "info",
        message: "Fine-tuning job started",
      });
      const run = trainLora(model, pending.examples, {
        ...pending.options,
        signal,
        checkpointEvery: this.#options.checkpointEvery,
        onCheckpoint: async (state) => {
          const path = checkpointFolder(id, state.step);
          const files = serializeTrainingState(state, model.config, this.#options.modelId);
          await writeFolderAtomic(join(adaptersDir, path), files);
          // The job names the new checkpoint before the old one goes, so it never names a gap.
          await this.store.update(id, { last_checkpoint: path });
          if (checkpoint !== null && checkpoint !== path) {
            await Deno.remove(join(adaptersDir, checkpoint), { recursive: true });
          }
          checkpoint = path;
        },
      });
      while (true) {
        // One optimizer step per turn: requests queued meanwhile run before the next step.
        const release = await this.#scheduler.acquire("background");
        let next;
        try {
          next = await run.next();
        } finally {
          release();
        }
        if (next.done) {
          if (next.value.status === "cancelled") break;
          // Something may have taken the name since the job was created: then a counter.
          const { name } = await this.#registry.saveNew(pending.adapterName, next.value.adapter);
          await this.store.update(id, {
            status: "succeeded",
            finished_at: now(),
            estimated_finish: null,
            fine_tuned_model: name,
            result_files: [name],
          }, {
            level: "info",
            message: `The job has successfully completed: model ${name}`,
          });
          return;
        }
        const e = next.value;
        // One write per step: the job's progress and the step's event together.
        await this.store.update(id, {
          trained_tokens: Math.round(e.tokensPerSecond * e.elapsedSeconds),
          estimated_finish: now() + Math.round(e.etaSeconds),
        }, {
          level: "info",
          message: `Step ${e.step}/${e.totalSteps}` +
            (e.loss === undefined ? "" : `: training loss=${e.loss.toFixed(4)}`),
          data: {
            step: e.step,
            total_steps: e.totalSteps,
            epoch: e.epoch,
            ...(e.loss !== undefined ? { train_loss: e.loss, grad_norm: e.gradNorm! } : {}),
            ...(e.validationLoss !== undefined ? { valid_loss: e.validationLoss } : {}),
            learning_rate: e.lr,
            tokens_per_second: e.tokensPerSecond,
            elapsed_seconds: e.elapsedSeconds,
            eta_seconds: e.etaSeconds,
          },
        });
      }
      if (signal.reason === "pause") {
        this.#paused.set(id, pending);
        await this.store.update(id, { status: "paused", estimated_finish: null }, {
          level: "info",
          message: `The job was paused; last checkpoint ${checkpoint}`,
        });
        return;
      }
      if (signal.reason === "shutdown") {
        await this.#fail(
          id,
          "interrupted",
          `Interrupted by a server shutdown; last checkpoint ${checkpoint}`,
        );
        return;
      }
      await this.store.update(id, {
        status: "cancelled",
        finished_at: now(),
        estimated_finish: null,
      }, { level: "info", message: `The job was cancelled; last checkpoint ${checkpoint}` });
    } catch (e) {
      await this.#fail(id, "training_failed", `Training failed: ${(e as Error).message}`);
    }
  }

  async #fail(id: string, code: string, message: string): Promise<void> {
    await this.store.update(id, {
      status: "failed",
      finished_at: now(),
      estimated_finish: null,
      error: { code, message, param: null },
    }, { level: "error", message });
  }
}
