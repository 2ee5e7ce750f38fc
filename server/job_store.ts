/**
 * Fine-tuning jobs and their events, in OpenAI's shapes, kept in memory and persisted so they
 * survive a restart: the job as one JSON file (`<dir>/<id>.json`, rewritten atomically when it
 * changes) and its events as one JSON line each, appended to `<dir>/<id>.events.jsonl`, so a
 * step's event costs one short append however long the job has run. A job that was queued or
 * running when the server stopped (or paused: its data was held in memory) is marked failed on
 * the next start, naming its last checkpoint. A crash mid-write is repaired on start: a half-written last event line is cut off
 * (so the restart's own event starts on a line of its own), and temporaries are removed.
 *
 * @module
 */
import { join } from "node:path";
import { AsyncLock, writeFileAtomic } from "../mod.ts";
import { z } from "zod";
import { removeStaleTemporaries } from "./stale_temporaries.ts";

/** A job's status, as OpenAI names them. */
export type JobStatus = "queued" | "running" | "paused" | "succeeded" | "failed" | "cancelled";

/** Statuses a job never leaves. */
export const TERMINAL_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

/** The hyper-parameters a job runs with (OpenAI's names plus the LoRA ones). */
export interface JobHyperparameters {
  /** Passes over the data. */
  n_epochs: number;
  /** Sequences per micro-batch. */
  batch_size: number;
  /** Peak learning rate. */
  learning_rate: number;
  /** LoRA rank. */
  lora_r: number;
  /** LoRA alpha. */
  lora_alpha: number;
  /** LoRA dropout. */
  lora_dropout: number;
  /** Adapted projections. */
  target_modules: string[];
  /** Step limit, or null for whole epochs. */
  max_steps: number | null;
  /** Micro-batches per optimizer step. */
  gradient_accumulation_steps: number;
  /** Longest record in tokens. */
  max_length: number;
}

/** A fine-tuning job, shaped like OpenAI's `fine_tuning.job` object. */
export interface FineTuningJob {
  /** Always "fine_tuning.job". */
  object: "fine_tuning.job";
  /** `ftjob-…`. */
  id: string;
  /** The base model's id. */
  model: string;
  /** Unix seconds. */
  created_at: number;
  /** Unix seconds, once the job ended. */
  finished_at: number | null;
  /** The adapter's model id, once it succeeded. */
  fine_tuned_model: string | null;
  /** Always "local". */
  organization_id: string;
  /** Files the job produced (the adapter folder, relative to the adapters directory). */
  result_files: string[];
  /** Where the job stands. */
  status: JobStatus;
  /** The validation data's file id or path under the data directory, or null. */
  validation_file: string | null;
  /** The data file under the data directory, or null for inline data. */
  training_file: string | null;
  /** The settings it runs with. */
  hyperparameters: JobHyperparameters;
  /** Tokens trained on so far (padding excluded). */
  trained_tokens: number | null;
  /** Why it failed, or null. */
  error: { code: string; message: string; param: string | null } | null;
  /** The run's seed. */
  seed: number;
  /** Expected end (Unix seconds) while running. */
  estimated_finish: number | null;
  /** The suffix the request gave, or null. */
  user_provided_suffix: string | null;
  /** Always empty. */
  integrations: unknown[];
  /** The newest checkpoint folder, relative to the adapters directory, or null. */
  last_checkpoint: string | null;
  /** How it trains, as OpenAI shows it: supervised, with the hyper-parameters. */
  method?: { type: "supervised"; supervised: { hyperparameters: JobHyperparameters } };
  /** The request's key-value metadata, or null. */
  metadata?: Record<string, string> | null;
}

/** One entry of a job's log, shaped like OpenAI's `fine_tuning.job.event`. */
export interface JobEvent {
  /** Always "fine_tuning.job.event". */
  object: "fine_tuning.job.event";
  /** `ftevent-…`. */
  id: string;
  /** Unix seconds. */
  created_at: number;
  /** Severity. */
  level: "info" | "warn" | "error";
  /** What happened, in words. */
  message: string;
  /** "metrics" for a training step (with `data`), else "message". */
  type: "message" | "metrics";
  /** Step metrics: step, total_steps, train_loss, learning_rate, tokens_per_second, eta_seconds… */
  data: Record<string, number> | null;
}

/** An event to append to a job: its level, message and step metrics (if any). */
export interface NewJobEvent {
  /** Severity. */
  level: JobEvent["level"];
  /** What happened, in words. */
  message: string;
  /** Step metrics, or null/absent for a plain message. */
  data?: Record<string, number> | null;
}

/** Receives each new event of a job, with the job as it is after it. */
export type JobListener = (event: JobEvent, job: FineTuningJob) => void;

const storedSchema = z.object({
  job: z.looseObject({
    object: z.literal("fine_tuning.job"),
    id: z.string(),
    status: z.enum(["queued", "running", "paused", "succeeded", "failed", "cancelled"]),
    created_at: z.number(),
    last_checkpoint: z.string().nullable(),
  }),
});

const eventSchema = z.looseObject({ object: z.literal("fine_tuning.job.event"), id: z.string() });

/** The events file beside a job file. */
const eventsFile = (dir: string, id: string) => join(dir, `${id}.events.jsonl`);

/** A random id with a prefix, e.g. `ftjob-4fZk…`. */
export function randomId(prefix: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return prefix + [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
}

const now = () => Math.floor(Date.now() / 1000);

/** Jobs and events, persisted under one folder. */
export class JobStore {
  /** The folder of the job files. */
  readonly dir: string;
  readonly #jobs = new Map<string, { job: FineTuningJob; events: JobEvent[] }>();
  readonly #listeners = new Map<string, Set<JobListener>>();
  readonly #writes = new AsyncLock();

  private constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Opens the store in `dir` (created if missing), reading every job file. Jobs left queued
   * or running by a previous process are marked failed. Unreadable files are skipped and
   * reported through `warn`.
   */
  static async open(
    dir: string,
    warn: (message: string) => void = console.warn,
  ): Promise<JobStore> {
    const store = new JobStore(dir);
    await Deno.mkdir(dir, { recursive: true });
    await removeStaleTemporaries(dir);
    for await (const item of Deno.readDir(dir)) {
      if (item.isDirectory && /^ftjob-[A-Za-z0-9]+$/.test(item.name)) {
        await removeStaleTemporaries(join(dir, item.name)); // checkpoints
      }
    }
    for await (const item of Deno.readDir(dir)) {
      if (!item.isFile || !/^ftjob-[A-Za-z0-9]+\.json$/.test(item.name)) continue;
      const path = join(dir, item.name);
      let parsed;
      try {
        parsed = storedSchema.safeParse(JSON.parse(await Deno.readTextFile(path)));
      } catch (e) {
        warn(`Skipping job file ${path}: ${(e as Error).message}`);
        continue;
      }
      if (!parsed.success || `${parsed.data.job.id}.json` !== item.name) {
        warn(`Skipping job file ${path}: not a job record`);
        continue;
      }
      const job = parsed.data.job as unknown as FineTuningJob;
      const record = { job, events: await readEvents(eventsFile(dir, job.id), warn) };
      store.#jobs.set(job.id, record);
      if (!TERMINAL_STATUSES.includes(record.job.status)) { // queued, running or paused
        const checkpoint = record.job.last_checkpoint;
        const message = "Interrupted by a server restart; " +
          (checkpoint ? `last checkpoint ${checkpoint}` : "no checkpoint was saved");
        await store.update(record.job.id, {
          status: "failed",
          finished_at: now(),
          estimated_finish: null,
          error: { code: "interrupted", message, param: null },
        }, { level: "error", message });
      }
    }
    return store;
  }

  /** Every job, newest first. */
  list(): FineTuningJob[] {
    // created_at is in seconds: jobs made in the same second keep their creation order (the
    // map's insertion order; a stable sort), so retention drops the oldest of them first.
    return [...this.#jobs.values()].map((r) => r.job).reverse().sort((a, b) =>
      b.created_at - a.created_at
    );
  }

  /** The job `id`, or undefined. */
  get(id: string): FineTuningJob | undefined {
    return this.#jobs.get(id)?.job;
  }

  /** The events of job `id`, oldest first (empty for an unknown job). */
  events(id: string): JobEvent[] {
    return this.#jobs.get(id)?.events ?? [];
  }

  /**
   * Deletes job `id` for good: its record, its events and its checkpoints (not the adapter it
   * trained). The job must have ended.
   */
  async delete(id: string): Promise<void> {
    const record = this.#record(id);
    if (!TERMINAL_STATUSES.includes(record.job.status)) {
      throw new Error(`Job ${id} is ${record.job.status}; only a finished job can be deleted`);
    }
    await this.#writes.run(async () => {
      for (
        const path of [join(this.dir, `${id}.json`), eventsFile(this.dir, id), join(this.dir, id)]
      ) {
        await Deno.remove(path, { recursive: true }).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
      }
      this.#jobs.delete(id);
    });
  }

  /**
   * Deletes the oldest finished jobs (see {@linkcode JobStore.delete}) until at most `max`
   * remain, or only unfinished ones are left over; returns the ids deleted.
   */
  async prune(max: number): Promise<string[]> {
    const finished = this.list().filter((j) => TERMINAL_STATUSES.includes(j.status)).reverse();
    const excess = this.#jobs.size - max;
    const doomed = finished.slice(0, Math.max(0, excess)).map((j) => j.id);
    for (const id of doomed) await this.delete(id);
    return doomed;
  }

  /** Adds a new job and persists it. */
  async create(job: FineTuningJob): Promise<void> {
    await this.#writes.run(() => this.#write(job.id, job, undefined));
    this.#jobs.set(job.id, { job, events: [] });
  }

  /**
   * Changes fields of job `id` and, when `event` is given, appends that event, in one write;
   * the change is visible (to `get`, `events` and the listeners) only once it is on disk, so a
   * crash never loses what a client was already shown. Returns the job.
   */
  async update(
    id: string,
    patch: Partial<FineTuningJob>,
    event?: NewJobEvent,
  ): Promise<FineTuningJob> {
    const record = this.#record(id);
    const added = event && this.#newEvent(event);
    const changed = Object.keys(patch).length > 0;
    const job = await this.#writes.run(async () => {
      const job = { ...record.job, ...patch }; // merged in turn, after every earlier update
      await this.#write(id, changed ? job : null, added);
      record.job = job;
      if (added) record.events.push(added);
      return job;
    });
    if (added) {
      for (const listener of this.#listeners.get(id) ?? []) {
        listener(added, job);
      }
    }
    return job;
  }

  /** Appends an event to job `id`, persists it and tells the listeners. */
  async addEvent(
    id: string,
    level: JobEvent["level"],
    message: string,
    data: Record<string, number> | null = null,
  ): Promise<void> {
    await this.update(id, {}, { level, message, data });
  }

  /** Calls `listener` with every new event of job `id`; returns the function that stops it. */
  subscribe(id: string, listener: JobListener): () => void {
    const set = this.#listeners.get(id) ?? new Set();
    set.add(listener);
    this.#listeners.set(id, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(id);
    };
  }

  #newEvent({ level, message, data = null }: NewJobEvent): JobEvent {
    return {
      object: "fine_tuning.job.event",
      id: randomId("ftevent-"),
      created_at: now(),
      level,
      message,
      type: data ? "metrics" : "message",
      data,
    };
  }

  #record(id: string) {
    const record = this.#jobs.get(id);
    if (!record) throw new Error(`Unknown job ${JSON.stringify(id)}`);
    return record;
  }

  /** Rewrites the job file with `job` when given, then appends `event` to its events file. */
  async #write(id: string, job: FineTuningJob | null, event: JobEvent | undefined): Promise<void> {
    if (job) {
      await writeFileAtomic(join(this.dir, `${id}.json`), JSON.stringify({ job }, null, 1) + "\n");
    }
    if (event) {
      await Deno.writeTextFile(eventsFile(this.dir, id), JSON.stringify(event) + "\n", {
        append: true,
      });
    }
  }
}

/**
 * The events of an events file, oldest first; none when it is missing. A last line without its
 * newline (an append cut short by a crash) is cut off the file, with a warning, so that the next
 * event starts a line of its own; any other line that is not an event is skipped with a warning
 * naming the file and line.
 */
async function readEvents(path: string, warn: (message: string) => void): Promise<JobEvent[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  if (text !== "" && !text.endsWith("\n")) {
    const kept = text.slice(0, text.lastIndexOf("\n") + 1);
    await Deno.truncate(path, new TextEncoder().encode(kept).length);
    warn(
      `Cut a partial last line (${text.length - kept.length} characters) off ${path}: ` +
        "a write cut short",
    );
    text = kept;
  }
  const events: JobEvent[] = [];
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    let parsed;
    try {
      parsed = eventSchema.safeParse(JSON.parse(line));
    } catch {
      parsed = null;
    }
    if (parsed?.success) events.push(parsed.data as unknown as JobEvent);
    else warn(`Skipping line ${i + 1} of ${path}: not a job event`);
  });
  return events;
}
