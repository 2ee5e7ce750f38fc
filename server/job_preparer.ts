/**
 * Turning a fine-tuning request into a job: the request is checked, its data loaded and
 * tokenised (in a Worker, so the server keeps answering meanwhile; bad data is a 400, not a
 * failed job), and the job record made with every hyperparameter filled in. Shared by the
 * single-server {@linkcode FineTuner} and the cluster's job routes, which differ only in where
 * the job goes next.
 *
 * @module
 */
import {
  type LoraConfig,
  type Model,
  resolveLoraConfig,
  type TokenizedExample,
  TRAINING_DEFAULTS,
} from "../mod.ts";
import { DatasetPreparer, InvalidDataError } from "./dataset_preparer.ts";
import { ApiError } from "./errors.ts";
import { FILE_ID } from "./file_store.ts";
import type { FileService } from "./fine_tuning_service.ts";
import type { FineTuningJob } from "./job_store.ts";
import type { FineTuningRequest } from "./request_schemas.ts";
import { resolveInside } from "./safe_path.ts";

/** Settings of a {@linkcode JobPreparer}. */
export interface JobPreparerOptions {
  /** The base model's id. */
  modelId: string;
  /** The folder `training_file` names are read from, or null to accept inline data only. */
  dataDir: string | null;
  /** The longest `max_length` a job may ask for. */
  maxLength: number;
  /** Largest data file read, in bytes. */
  maxFileBytes: number;
  /** The uploaded files a `training_file` id names (may throw its own 400 when there are none). */
  files: () => FileService;
}

/** The training settings of a job (plain JSON: they travel to a cluster's workers). */
export interface JobTrainingOptions {
  /** The LoRA settings. */
  lora: LoraConfig;
  /** Passes over the data. */
  epochs: number;
  /** A cap on optimizer steps. */
  maxSteps?: number;
  /** Records per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimizer step. */
  gradAccum: number;
  /** The learning rate. */
  lr: number;
  /** The seed of shuffling, dropout and initialisation. */
  seed: number;
  /** The tokenised validation records, if the request named a validation file. */
  validation?: TokenizedExample[];
}

/** A checked request: its job record (queued), its tokenised data and its training settings. */
export interface PreparedJob {
  /** The job as the API shows it. */
  job: FineTuningJob;
  /** The tokenised training records. */
  examples: TokenizedExample[];
  /** `trainLora`'s settings. */
  options: JobTrainingOptions;
}

const now = () => Math.floor(Date.now() / 1000);

/** Checks fine-tuning requests and tokenises their data for one model. */
export class JobPreparer {
  readonly #model: Model;
  readonly #options: JobPreparerOptions;
  #preparer: DatasetPreparer | null = null; // made on first use: it needs the tokenizer

  /** Makes a preparer for jobs on `model`. */
  constructor(model: Model, options: JobPreparerOptions) {
    this.#model = model;
    this.#options = options;
  }

  /** A 404 {@linkcode ApiError} unless `request` names this server's base model. */
  checkModel(request: FineTuningRequest): void {
    if (request.model !== this.#options.modelId) {
      throw new ApiError(
        404,
        `Model ${JSON.stringify(request.model)} is not this server's base model`,
        { param: "model", code: "model_not_found" },
      );
    }
  }

  /**
   * Checks `request` and tokenises its data into job `id`. Everything is checked before the
   * backend, so a CPU server still reports bad data and paths.
   */
  async prepare(id: string, request: FineTuningRequest): Promise<PreparedJob> {
    this.checkModel(request);
    const h = request.method?.supervised?.hyperparameters ?? request.hyperparameters ?? {};
    const maxLength = h.max_length ??
      Math.min(TRAINING_DEFAULTS.maxLength, this.#options.maxLength);
    if (maxLength > this.#options.maxLength) {
      throw new ApiError(
        400,
        `Requested max_length ${maxLength} exceeds this server's limit ${this.#options.maxLength}`,
        {
          param: "hyperparameters.max_length",
        },
      );
    }
    let lora: LoraConfig;
    try {
      lora = resolveLoraConfig({
        r: h.lora_r,
        alpha: h.lora_alpha,
        dropout: h.lora_dropout,
        targetModules: h.target_modules,
      });
    } catch (e) {
      throw new ApiError(400, (e as Error).message, { param: "hyperparameters" });
    }
    const examples = await this.#examples(request, "training_file", maxLength);
    const validation = request.validation_file
      ? await this.#examples(request, "validation_file", maxLength)
      : undefined;
    if (!this.#model.gpu) {
      throw new ApiError(400, "Fine-tuning needs the WebGPU backend; this server runs on the CPU", {
        param: "model",
        code: "training_unavailable",
      });
    }
    // The job record shows every hyperparameter, so the library's defaults are filled in here.
    const d = TRAINING_DEFAULTS;
    const lr = h.learning_rate ??
      d.lr * (typeof h.learning_rate_multiplier === "number" ? h.learning_rate_multiplier : 1);
    const epochs = typeof h.n_epochs === "number" ? h.n_epochs : d.epochs;
    const batchSize = typeof h.batch_size === "number" ? h.batch_size : d.batchSize;
    const gradAccum = h.gradient_accumulation_steps ?? d.gradAccum;
    const seed = request.seed ?? d.seed;
    const hyperparameters = {
      n_epochs: epochs,
      batch_size: batchSize,
      learning_rate: lr,
      lora_r: lora.r,
      lora_alpha: lora.alpha,
      lora_dropout: lora.dropout,
      target_modules: lora.targetModules,
      max_steps: h.max_steps ?? null,
      gradient_accumulation_steps: gradAccum,
      max_length: maxLength,
    };
    const job: FineTuningJob = {
      object: "fine_tuning.job",
      id,
      model: request.model,
      created_at: now(),
      finished_at: null,
      fine_tuned_model: null,
      organization_id: "local",
      result_files: [],
      status: "queued",
      validation_file: request.validation_file ?? null,
      training_file: request.training_file ?? null,
      hyperparameters,
      trained_tokens: null,
      error: null,
      seed,
      estimated_finish: null,
      user_provided_suffix: request.suffix ?? null,
      integrations: [],
      last_checkpoint: null,
      method: { type: "supervised", supervised: { hyperparameters } },
      metadata: request.metadata ?? null,
    };
    const options = { lora, epochs, maxSteps: h.max_steps, batchSize, gradAccum, lr, seed };
    return { job, examples, options: { ...options, validation } };
  }

  /** Stops the tokenising Worker. */
  close(): void {
    this.#preparer?.close();
  }

  /**
   * A data set of the request, loaded, cleaned and tokenised in the Worker; every problem is a
   * 400. The request's `param` names an uploaded file's id or a path under the data directory;
   * when it names none, the inline `training_data` is used.
   */
  async #examples(
    request: FineTuningRequest,
    param: "training_file" | "validation_file",
    maxLength: number,
  ): Promise<TokenizedExample[]> {
    const file = request[param] ?? undefined;
    const text = file !== undefined
      ? await this.#fileText(file, param)
      : typeof request.training_data === "string"
      ? request.training_data
      : JSON.stringify(request.training_data);
    const source = file ?? "training_data";
    try {
      this.#preparer ??= new DatasetPreparer(this.#model.tokenizer);
      return await this.#preparer.prepare(text, {
        source,
        maxLength,
        chatTemplateKwargs: request.chat_template_kwargs,
      });
    } catch (e) {
      if (!(e instanceof InvalidDataError)) throw e;
      const where = file === undefined ? "training_data" : param;
      throw new ApiError(400, `Invalid ${where}: ${e.message}`, {
        param: where,
        code: "invalid_data",
      });
    }
  }

  /** The text of an uploaded file (by id) or of a file under the data directory. */
  async #fileText(file: string, param: string): Promise<string> {
    const tooBig = () =>
      new ApiError(
        400,
        `Invalid ${param} ${JSON.stringify(file)}: expected a file of at most ` +
          `${this.#options.maxFileBytes} bytes`,
        { param },
      );
    if (FILE_ID.test(file)) {
      const files = this.#options.files();
      if ((await files.get(file, param)).bytes > this.#options.maxFileBytes) throw tooBig();
      return new TextDecoder().decode(await files.content(file, param));
    }
    if (this.#options.dataDir === null) {
      throw new ApiError(
        400,
        "This server has no --data-dir; upload the data to /v1/files or send it as training_data",
        { param },
      );
    }
    const path = await resolveInside(this.#options.dataDir, file, param);
    const info = await Deno.stat(path);
    if (!info.isFile || info.size > this.#options.maxFileBytes) throw tooBig();
    return await Deno.readTextFile(path);
  }
}
