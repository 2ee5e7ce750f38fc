/**
 * Text generation for many concurrent requests on one loaded model (continuous batching):
 * requests join and leave between batch steps, every step runs the base weights once for all
 * of them, and each request uses its own LoRA adapter, or none. Greedy requests get the same
 * text as from `Model.generate`.
 *
 * @module
 */
import { BatchScheduler, type BatchStats } from "../generate/batch_scheduler.ts";
import { type GenerationResult, streamTokens } from "../generate/generate.ts";
import { AdapterSlots } from "./adapter_slots.ts";
import { GpuBatchEngine, type GpuBatchEngineOptions } from "./gpu_batch_engine.ts";
import type { Model, Prompt, TextGenerationOptions } from "./model.ts";

/** Options of {@linkcode BatchedModel}: the batch engine's sizes and a step gate. */
export interface BatchedModelOptions extends GpuBatchEngineOptions {
  /**
   * Runs each batch step, so that its GPU work can take turns with other work (the server
   * passes its training scheduler). Default: runs it directly.
   */
  runStep?: <T>(step: () => Promise<T>) => Promise<T>;
}

/**
 * A model serving many generations at once with per-request adapters. It shares the weights,
 * tokenizer and adapter registry of a WebGPU {@linkcode Model} and holds its own KV cache of
 * `maxBatch` sequences and `maxLoras` adapter slots (least recently used replaced).
 *
 * @example
 * ```ts
 * const model = await loadModel("./model_cache/LLM-Research/Llama-3___2-1B");
 * model.addAdapter("ruozhi", await readPeftAdapter(dirModelSource("./lora_output"), model.config));
 * const batched = new BatchedModel(model, { maxBatch: 8, maxLoras: 2 });
 * const [a, b] = await Promise.all([
 *   batched.generate("为什么天是蓝的？", { maxTokens: 32, temperature: 0 }),
 *   batched.generate("只剩一个心脏了还能活吗？", { maxTokens: 32, adapter: "ruozhi" }),
 * ]);
 * batched.dispose();
 * ```
 */
export class BatchedModel {
  /** The model whose weights, tokenizer and adapters it uses. */
  readonly model: Model;
  /** The batch engine. */
  readonly engine: GpuBatchEngine;
  readonly #scheduler: BatchScheduler;
  readonly #slots: AdapterSlots;

  /** Allocates the batch buffers next to `model` (which must run on WebGPU). */
  constructor(model: Model, options: BatchedModelOptions = {}) {
    const { gpu, gpuWeights } = model;
    if (!gpu || !gpuWeights) {
      throw new RangeError(
        `Batched generation needs the WebGPU backend; ${model.name} runs on ${model.backend}`,
      );
    }
    this.model = model;
    this.engine = new GpuBatchEngine(gpu, model.config, gpuWeights, {
      maxContext: model.maxContext,
      ...options,
    });
    const engine = this.engine, runStep = options.runStep ?? ((step) => step());
    this.#scheduler = new BatchScheduler({
      sizes: engine.sizes,
      startSequence: (slot, ids) => engine.startSequence(slot, ids),
      step: (rows, samples, chain) => runStep(() => engine.step(rows, samples, chain)),
    });
    this.#slots = new AdapterSlots(engine.sizes.maxLoras, (slot, w) => engine.loadAdapter(slot, w));
  }

  /** KV-cache slots per sequence. */
  get maxContext(): number {
    return this.engine.sizes.maxContext;
  }

  /** Sequences running and waiting, steps and rows run. */
  get stats(): BatchStats {
    return this.#scheduler.stats;
  }

  /** Adapters resident in the GPU slots, most recently used first. */
  get residentAdapters(): string[] {
    return this.#slots.resident;
  }

  /** Generates a completion and returns it whole; see {@linkcode stream}. */
  async generate(prompt: Prompt, options: TextGenerationOptions = {}): Promise<GenerationResult> {
    const deltas = this.stream(prompt, options);
    while (true) {
      const next = await deltas.next();
      if (next.done) return next.value;
    }
  }

  /**
   * Streams a completion as text deltas, decoded in the same batch steps as every other open
   * stream. `options` are {@linkcode Model.stream}'s; `adapter` names one of the model's.
   */
  async *stream(
    prompt: Prompt,
    options: TextGenerationOptions = {},
  ): AsyncGenerator<string, GenerationResult> {
    const ids = this.model.encodePrompt(prompt, options.template, options.chatTemplateKwargs);
    const name = options.adapter ?? null;
    const weights = name === null ? null : this.model.adapterWeights(name);
    if (weights === undefined) throw new Error(`Unknown adapter ${JSON.stringify(name)}`);
    const slot = weights ? await this.#slots.acquire(name!, weights, options.signal) : -1;
    const sequence = this.#scheduler.open(slot, options.maxTokens);
    try {
      const eosIds = [...this.model.tokenizer.eosIds, ...(options.eosIds ?? [])];
      const chunks = streamTokens(sequence, this.model.tokenizer, ids, { ...options, eosIds });
      while (true) {
        const next = await chunks.next();
        if (next.done) return next.value;
        if (next.value.text) yield next.value.text;
      }
    } finally {
      sequence.close();
      if (slot >= 0) this.#slots.release(slot);
    }
  }

  /** Frees the batch buffers (not the model). */
  dispose(): void {
    this.engine.dispose();
  }
}
