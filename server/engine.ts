/**
 * The server's engine: one model, its adapters (backed by the adapters directory), the
 * fine-tuning jobs, and the scheduler that shares the model between them. `createApp`
 * receives it; nothing here is global, so several engines can live in one process (tests).
 * The model may still be loading when the engine is made: until it is ready, every call that
 * needs it answers 503.
 *
 * @module
 */
import { basename, join } from "node:path";
import {
  type BatchedGenerationResult,
  BatchedModel,
  type ChatMessage,
  type ChatTemplateKwargs,
  type LogprobChunk,
  type Model,
  type PromptTemplate,
} from "../mod.ts";
import { AdapterRegistry } from "./adapter_registry.ts";
import { ApiError } from "./errors.ts";
import { JOBS_FOLDER } from "./checkpoint_ids.ts";
import { FineTuner } from "./fine_tuner.ts";
import type { FineTuningService } from "./fine_tuning_service.ts";
import { GpuScheduler, QueueFullError } from "./gpu_scheduler.ts";
import { JobStore } from "./job_store.ts";
import { ServerMetrics } from "./metrics.ts";
import { removeStaleTemporaries } from "./stale_temporaries.ts";
import { generatedChunks, textChunks } from "./generation_chunks.ts";
import { promptTooLong, tokenBudget } from "./generation_budget.ts";
import { type EngineOptions, SERVER_DEFAULTS } from "./engine_options.ts";
import type { GenerationRequest } from "./generation_request.ts";

/** A model card of `GET /v1/models`. */
export interface ModelCard {
  /** The id to put in requests. */
  id: string;
  /** Always "model". */
  object: "model";
  /** Unix seconds. */
  created: number;
  /** Always "webgpu-lora". */
  owned_by: string;
  /** The base model's id. */
  root: string;
  /** The base model's id for an adapter; null for the base. */
  parent: string | null;
  /** The most tokens of prompt plus completion. */
  max_model_len: number;
}

interface Ready {
  model: Model;
  batched: BatchedModel | null;
  modelId: string;
  maxContext: number;
  registry: AdapterRegistry;
  fineTuner: FineTuningService | null;
  created: number;
}

/** Engine state for `/health`. */
export type EngineStatus = "loading" | "ready" | "failed";

/** The model, adapters, jobs and scheduler behind the HTTP routes. */
export class ServerEngine {
  /** Settles when the engine is ready; rejects when loading failed. */
  readonly ready: Promise<void>;
  /** Shares the model between generation requests and training steps. */
  readonly scheduler: GpuScheduler;
  /** Counters and histograms of the generations served (`GET /metrics`). */
  readonly metrics: ServerMetrics = new ServerMetrics();
  readonly #options: EngineOptions;
  #generating = 0; // batched generations accepted and not finished
  #ready: Ready | null = null;
  #error: string | null = null;

  /** Starts loading: `model` may be a promise (the server answers 503 until it settles). */
  constructor(model: Model | Promise<Model>, options: EngineOptions) {
    this.#options = options;
    this.scheduler = new GpuScheduler(options.maxQueue ?? SERVER_DEFAULTS.maxQueue);
    this.ready = this.#init(model).catch((e) => {
      this.#error = (e as Error).message;
      throw e;
    });
    this.ready.catch(() => {}); // reported through status; awaiting `ready` still rejects
  }

  /** Whether the engine is loading, ready, or failed to load. */
  get status(): EngineStatus {
    return this.#ready ? "ready" : this.#error === null ? "loading" : "failed";
  }

  /** Why loading failed, or null. */
  get error(): string | null {
    return this.#error;
  }

  /** The base model's id (503 while loading). */
  get modelId(): string {
    return this.#get().modelId;
  }

  /** The loaded model (503 while loading). */
  get model(): Model {
    return this.#get().model;
  }

  /** The batched model, when batching is on (503 while loading). */
  get batched(): BatchedModel | null {
    return this.#get().batched;
  }

  /** Generations running and waiting, for `/metrics`. */
  get load(): { running: number; waiting: number; batchOccupancy: number } {
    const stats = this.#ready?.batched?.stats;
    if (!stats) {
      const waiting = this.scheduler.waiting;
      return { running: this.scheduler.requests - waiting, waiting, batchOccupancy: 0 };
    }
    return {
      running: stats.running,
      waiting: this.#generating - stats.running,
      batchOccupancy: stats.steps === 0 ? 0 : stats.sampled / stats.steps,
    };
  }

  /** The adapters (503 while loading). */
  get adapters(): AdapterRegistry {
    return this.#get().registry;
  }

  /** The fine-tuning jobs (503 while loading, 403 when training is off). */
  get fineTuning(): FineTuningService {
    const { fineTuner } = this.#get();
    if (!fineTuner) {
      throw new ApiError(
        403,
        "Fine-tuning is disabled on this server (started with --no-training)",
        {
          code: "training_disabled",
        },
      );
    }
    return fineTuner;
  }

  /** The base model and every adapter, loaded or waiting in the adapters directory. */
  async models(): Promise<ModelCard[]> {
    const { modelId, registry, created, maxContext } = this.#get();
    const card = (id: string, parent: string | null, at: number): ModelCard => ({
      id,
      object: "model",
      created: at,
      owned_by: "webgpu-lora",
      root: modelId,
      parent,
      max_model_len: maxContext,
    });
    const loaded = new Map(registry.loaded().map((a) => [a.name, a]));
    return [
      card(modelId, null, created),
      ...(await registry.names()).map((name) =>
        card(name, modelId, loaded.get(name)?.created ?? created)
      ),
    ];
  }

  /** The card of model `id` (the base or an adapter); 404 when there is none. */
  async modelCard(id: string): Promise<ModelCard> {
    const card = (await this.models()).find((m) => m.id === id);
    if (!card) throw modelNotFound(id);
    return card;
  }

  /**
   * Generates for a request, yielding text deltas and returning the result. Checks come
   * first (404 unknown model, 400 prompt or max_tokens too long, 429 queue full); then it
   * waits for its turn. An aborted `signal` leaves the queue or stops the generation.
   */
  async *stream(
    request: GenerationRequest,
    signal?: AbortSignal,
  ): AsyncGenerator<LogprobChunk, BatchedGenerationResult> {
    const { model, maxContext } = this.#get();
    const param = request.param ?? (Array.isArray(request.prompt) ? "messages" : "prompt");
    const maxPromptTokens = Math.min(
      this.#options.maxPromptTokens ?? maxContext - 1,
      maxContext - 1,
    );
    const cap = this.#options.maxTokens ?? SERVER_DEFAULTS.maxTokens;
    const ids = this.#promptIds(request.prompt, param, maxPromptTokens, request.chatTemplateKwargs);
    const promptTokens = ids.length;
    const maxTokens = tokenBudget({
      promptTokens,
      requested: request.maxTokens,
      cap,
      maxContext,
      maxPromptTokens,
      param,
    });
    const batched = this.#get().batched;
    const logprobs = {
      tokens: request.logprobs ?? undefined,
      prompt: request.promptLogprobs ?? undefined,
    };
    if (!batched && (logprobs.tokens !== undefined || logprobs.prompt !== undefined)) {
      throw new ApiError(
        400,
        "Logprobs need continuous batching: the WebGPU backend with --max-batch",
        { param: "logprobs" },
      );
    }
    if (maxTokens === 0 && logprobs.prompt === undefined) {
      throw new ApiError(400, "max_tokens 0 needs echo with logprobs", { param: "max_tokens" });
    }
    const maxQueue = this.scheduler.maxQueue;
    if (batched && this.#generating >= maxQueue) {
      throw new ApiError(
        429,
        `Server is busy: ${maxQueue} generation requests are already queued or running`,
        { code: "rate_limit_exceeded" },
      );
    }
    if (batched) this.#generating += 1;
    let turn: { release: () => void; adapter: string | null };
    try {
      turn = await this.#turn(request.model, signal);
    } catch (e) {
      if (batched) this.#generating -= 1;
      throw e;
    }
    const { adapter } = turn;
    // Batched: the turn only made sure the adapter is loaded; the batch steps take turns of
    // their own. Unbatched: the turn is held for the whole generation.
    const release = batched ? () => (this.#generating -= 1) : turn.release;
    if (batched) turn.release();
    const started = performance.now();
    const options = {
      adapter,
      maxTokens,
      temperature: request.temperature ?? 1,
      topP: request.topP ?? 1,
      topK: Math.max(0, request.topK ?? 0),
      repetitionPenalty: request.repetitionPenalty ?? 1,
      presencePenalty: request.presencePenalty ?? 0,
      frequencyPenalty: request.frequencyPenalty ?? 0,
      minP: request.minP ?? 0,
      seed: request.seed ?? undefined,
      stop: request.stop,
      eosIds: request.stopTokenIds,
      signal,
    };
    let finish = "error", generated = 0;
    try {
      const chunks = batched
        ? generatedChunks(batched, ids, {
          ...options,
          logprobs,
          sharedPrefill: request.sharedPrefill,
        })
        : textChunks(model.stream({ ids }, options), ids); // encoded once, above
      let last = started;
      let next = await chunks.next();
      while (!next.done) {
        const now = performance.now();
        if (last === started) this.metrics.firstToken((now - started) / 1000);
        else this.metrics.betweenTokens((now - last) / 1000);
        last = now;
        yield next.value;
        next = await chunks.next();
      }
      const result = next.value;
      [finish, generated] = [result.finishReason, result.completionTokens];
      this.#options.onGeneration?.({
        model: request.model,
        promptTokens: result.promptTokens,
        completionTokens: result.completionTokens,
        finishReason: result.finishReason,
        seconds: (performance.now() - started) / 1000,
      });
      return result;
    } finally {
      this.metrics.finished(finish, promptTokens, generated);
      release();
    }
  }

  /**
   * The token ids the model gets for a prompt: a raw prompt as is (with BOS), chat messages
   * through the chat template (or the `Human:`/`Assistant:` transcript without one). 400 when
   * the template fails.
   */
  encode(prompt: string | ChatMessage[], chatTemplateKwargs?: ChatTemplateKwargs): number[] {
    const { text, template } = this.#prompt(prompt);
    try {
      return this.#get().model.encodePrompt(text, template, chatTemplateKwargs);
    } catch (e) {
      const param = Array.isArray(prompt) ? "messages" : "prompt";
      throw new ApiError(400, `Invalid ${param}: ${(e as Error).message}`, { param });
    }
  }

  /**
   * The prompt's ids: token ids checked against the vocabulary, text encoded unless it is far
   * too long to fit (400s naming `param`).
   */
  #promptIds(
    prompt: GenerationRequest["prompt"],
    param: string,
    maxPromptTokens: number,
    chatTemplateKwargs?: ChatTemplateKwargs,
  ): number[] {
    if (typeof prompt !== "string" && !Array.isArray(prompt)) {
      const vocabSize = this.#get().model.config.vocabSize;
      const bad = prompt.tokenIds.findIndex((id) => id >= vocabSize);
      if (bad >= 0) {
        const id = prompt.tokenIds[bad];
        const message = `token ${bad} is ${id}, outside the vocabulary of ${vocabSize}`;
        throw new ApiError(400, `Invalid ${param}: ${message}`, { param });
      }
      return prompt.tokenIds;
    }
    const chars = typeof prompt === "string" ? prompt.length : JSON.stringify(prompt).length;
    if (chars > 32 * maxPromptTokens) {
      throw promptTooLong(`Prompt of ${chars} characters`, maxPromptTokens, param);
    }
    return this.encode(prompt, chatTemplateKwargs);
  }

  /** Generates for a request and returns the whole result; see {@linkcode ServerEngine.stream}. */
  async generate(
    request: GenerationRequest,
    signal?: AbortSignal,
  ): Promise<BatchedGenerationResult> {
    const deltas = this.stream(request, signal);
    while (true) {
      const next = await deltas.next();
      if (next.done) return next.value;
    }
  }

  /** Stops the fine-tuning worker (the running job is marked interrupted). */
  async close(): Promise<void> {
    await this.ready.catch(() => {});
    const fineTuner = this.#ready?.fineTuner;
    if (fineTuner instanceof FineTuner) await fineTuner.close();
  }

  /**
   * A generation turn with its adapter loaded: resolves the model id (loading the adapter
   * before the wait when it is not loaded), waits for the turn, and within it loads the adapter
   * again if it was unloaded meanwhile.
   */
  async #turn(
    id: string,
    signal?: AbortSignal,
  ): Promise<{ release: () => void; adapter: string | null }> {
    const { modelId, registry } = this.#get();
    const adapter = id === modelId ? null : id;
    if (adapter !== null && !(await registry.resolve(adapter))) throw modelNotFound(id);
    let release: () => void;
    try {
      release = await this.scheduler.acquire("request", signal);
    } catch (e) {
      if (e instanceof QueueFullError) {
        throw new ApiError(429, e.message, { code: "rate_limit_exceeded" });
      }
      throw e;
    }
    try {
      if (adapter !== null && !(await registry.loadInTurn(adapter))) throw modelNotFound(id);
    } catch (e) {
      release();
      throw e;
    }
    return { release, adapter };
  }

  /** The text and template the model gets: messages through the chat template when it has one. */
  #prompt(
    prompt: string | ChatMessage[],
  ): { text: string | ChatMessage[]; template: PromptTemplate } {
    if (!Array.isArray(prompt)) return { text: prompt, template: "none" };
    if (this.#get().model.tokenizer.hasChatTemplate) return { text: prompt, template: "chat" };
    return { text: humanAssistantTranscript(prompt), template: "none" };
  }

  #get(): Ready {
    if (this.#ready) return this.#ready;
    if (this.#error !== null) throw new ApiError(503, `The model failed to load: ${this.#error}`);
    throw new ApiError(503, "The model is still loading; retry shortly", { code: "model_loading" });
  }

  async #init(pending: Model | Promise<Model>): Promise<void> {
    const model = await pending;
    const o = this.#options;
    const modelId = o.modelId ?? basename(model.name.replace(/[\\/]+$/, ""));
    const maxContext = model.maxContext;
    await Deno.mkdir(o.adaptersDir, { recursive: true });
    const registry = new AdapterRegistry(model, this.scheduler, {
      adaptersDir: o.adaptersDir,
      baseModelId: modelId,
    });
    for (const [name, dir] of Object.entries(o.adapters ?? {})) await registry.addFolder(name, dir);
    // A server without training leaves the jobs alone: they belong to the instance that trains.
    // The one that trains cleans up after its own crash (adapters half saved).
    if (o.training !== false && !o.jobs) await removeStaleTemporaries(o.adaptersDir);
    const fineTuner = o.jobs
      ? await o.jobs(model, modelId)
      : o.training === false
      ? null
      : new FineTuner(
        model,
        this.scheduler,
        registry,
        await JobStore.open(join(o.adaptersDir, JOBS_FOLDER), o.warn),
        {
          modelId,
          dataDir: o.dataDir ?? null,
          checkpointEvery: o.checkpointEvery ?? SERVER_DEFAULTS.checkpointEvery,
          maxLength: maxContext,
          maxFileBytes: o.maxDataFileBytes ?? SERVER_DEFAULTS.maxDataFileBytes,
          maxQueuedJobs: o.maxQueuedJobs ?? SERVER_DEFAULTS.maxQueuedJobs,
          maxJobRecords: o.maxJobRecords ?? SERVER_DEFAULTS.maxJobRecords,
          warn: o.warn ?? console.warn,
        },
      );
    const batch = o.batch && model.backend === "webgpu"
      ? new BatchedModel(model, {
        ...o.batch,
        maxContext,
        runStep: (step) => this.scheduler.run("background", step), // turns with training steps
      })
      : null;
    this.#ready = {
      model,
      batched: batch,
      modelId,
      maxContext,
      registry,
      fineTuner,
      created: Math.floor(Date.now() / 1000),
    };
  }
}

function modelNotFound(id: string): ApiError {
  return new ApiError(404, `The model ${JSON.stringify(id)} does not exist`, {
    param: "model",
    code: "model_not_found",
  });
}

/**
 * Chat messages for a model without a chat template, in the `Human: …\nAssistant: …` format
 * the user's adapters are trained on, ending with `Assistant:` for the reply.
 */
export function humanAssistantTranscript(messages: ChatMessage[]): string {
  const lines = messages.map((m) =>
    m.role === "user"
      ? `Human: ${m.content}`
      : m.role === "assistant"
      ? `Assistant: ${m.content}`
      : m.content
  );
  return [...lines, "Assistant:"].join("\n");
}
