/**
 * The server engine's settings and defaults: what `server/main.ts` builds from its flags and
 * `ServerEngine` (`engine.ts`) is made with.
 *
 * @module
 */
import type { Model } from "../mod.ts";
import type { FineTuningService } from "./fine_tuning_service.ts";
import type { GenerationInfo } from "./generation_request.ts";

/**
 * The server's own defaults (training settings default to the library's `TRAINING_DEFAULTS`,
 * the context to the model's own).
 */
export const SERVER_DEFAULTS = {
  /** Generation requests waiting or running at most. */
  maxQueue: 32,
  /** Cap on `max_tokens`. */
  maxTokens: 512,
  /**
   * Fine-tuning checkpoint interval in steps. The library checkpoints only at the end by
   * default; a server job checkpoints as it goes, so that a crash loses at most this many steps.
   */
  checkpointEvery: 50,
  /** Largest data file a job may read, in bytes. */
  maxDataFileBytes: 256 << 20,
  /** Fine-tuning jobs waiting to run at most; more get 429. */
  maxQueuedJobs: 8,
  /** Job records kept: beyond it, the oldest finished jobs are deleted as new ones come. */
  maxJobRecords: 100,
} as const;

/** Settings of a `ServerEngine` (`engine.ts`). */
export interface EngineOptions {
  /** The folder of adapters (one PEFT folder each) and of job files (`.jobs`). */
  adaptersDir: string;
  /** The base model's id in requests; default the model folder's base name. */
  modelId?: string;
  /** The folder `training_file` names are read from; none by default (inline data only). */
  dataDir?: string | null;
  /** Adapters to load at start from any folder: name → folder. */
  adapters?: Record<string, string>;
  /** Generation requests waiting or running at most; more get 429. Default 32. */
  maxQueue?: number;
  /** Cap on `max_tokens`. Default 512. */
  maxTokens?: number;
  /** Cap on prompt tokens. Default the model's `maxContext` − 1. */
  maxPromptTokens?: number;
  /**
   * Whether this server runs fine-tuning jobs (default true). Replicas sharing an adapters
   * directory with a training server set it false: their fine-tuning routes answer 403, and
   * they never touch the job files.
   */
  training?: boolean;
  /** Fine-tuning checkpoint interval in steps (0: only at the end). Default 50. */
  checkpointEvery?: number;
  /** Largest data file a job may read, in bytes. Default 256 MiB. */
  maxDataFileBytes?: number;
  /**
   * Continuous batching on the WebGPU backend: concurrent generations decode together, up to
   * `maxBatch` at once, each with its own adapter (`maxLoras` resident on the GPU, least
   * recently used replaced, of rank at most `maxLoraRank`). Absent: one generation at a time.
   */
  batch?: { maxBatch: number; maxLoras: number; maxLoraRank: number } | null;
  /** Fine-tuning jobs waiting to run at most (the running one aside); more get 429. Default 8. */
  maxQueuedJobs?: number;
  /**
   * Job records kept (with their events and checkpoints); the oldest finished ones are deleted
   * beyond it. Default 100.
   */
  maxJobRecords?: number;
  /**
   * Keeps the fine-tuning jobs elsewhere (a cluster replica's jobs in NATS JetStream): called
   * once the model is loaded, instead of making the local {@linkcode FineTuner}.
   */
  jobs?: (model: Model, modelId: string) => FineTuningService | Promise<FineTuningService>;
  /** Called after each generation, e.g. to log it. */
  onGeneration?: (info: GenerationInfo) => void;
  /** Receives warnings (unreadable or unwritable job files); default console.warn. */
  warn?: (message: string) => void;
}
