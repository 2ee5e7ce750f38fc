/**
 * Text generation for many concurrent requests on one loaded model (continuous batching):
 * requests join and leave between batch steps, every step runs the base weights once for all
 * of them, and each request uses its own LoRA adapter, or none. Greedy requests get the same
 * text as from `Model.generate`.
 *
 * @module
 */
import {
  BatchScheduler,
  type BatchSequence,
  type BatchStats,
  type SequenceLogprobs,
} from "../generate/batch_scheduler.ts";
import { type GenerationChunk, type GenerationResult, streamTokens } from "../generate/generate.ts";
import { resolveSampling } from "../generate/sampling.ts";
import type { TokenLogprob } from "../ops/logprobs.ts";
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
 * Generations of one prompt that share its prefill (OpenAI's `n`): pass the same object as
 * `sharedPrefill` to each; the first to start prefills the prompt, and the others copy its
 * KV cache on the GPU instead of running the prompt again.
 */
export class SharedPrefill {
  /** A group of generations that share their prefill; opaque. */
  constructor() {}
}

/** Each group's sequence that prefills, once one has started. */
const prefillSources = new WeakMap<SharedPrefill, BatchSequence>();

/** Options of {@linkcode BatchedModel.chunks}: a generation's, and the logprobs it returns. */
export interface BatchedGenerationOptions extends TextGenerationOptions {
  /** Shares the prompt's prefill with the other generations given the same object. */
  sharedPrefill?: SharedPrefill;
  /**
   * Logprobs to return, computed on the GPU from the model's logits before penalties,
   * temperature and top-k / top-p (vLLM's raw logprobs): `tokens` top alternatives with each
   * generated token, `prompt` with each prompt token (OpenAI's `echo`). Default none.
   */
  logprobs?: SequenceLogprobs;
}

/** A streamed piece of text with the logprobs of its tokens (where asked). */
export interface LogprobChunk extends GenerationChunk {
  /** The logprobs of `tokenIds`, in order, or empty when not asked for. */
  logprobs: (TokenLogprob | null)[];
  /** On the first chunk, where asked: the prompt's logprobs by position, the first null. */
  promptLogprobs?: (TokenLogprob | null)[];
}

/** A finished generation with its prompt logprobs (where asked). */
export interface BatchedGenerationResult extends GenerationResult {
  /** Logprobs of `tokens`, in order; null when not asked for. */
  tokenLogprobs: (TokenLogprob | null)[] | null;
  /** Logprobs of the prompt ids by position, the first null; null when not asked for. */
  promptLogprobs: (TokenLogprob | null)[] | null;
  /** The prompt ids. */
  promptIds: number[];
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
      copyPrefix: (from, to, length) => engine.copyPrefix(from, to, length),
      step: (rows, samples, chain, scores) =>
        runStep(() => engine.step(rows, samples, chain, scores)),
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

  /** Generates a completion and returns it whole; see {@linkcode chunks}. */
  async generate(
    prompt: Prompt,
    options: BatchedGenerationOptions = {},
  ): Promise<BatchedGenerationResult> {
    const chunks = this.chunks(prompt, options);
    while (true) {
      const next = await chunks.next();
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
    const chunks = this.chunks(prompt, options);
    while (true) {
      const next = await chunks.next();
      if (next.done) return next.value;
      yield next.value.text;
    }
  }

  /**
   * Streams a completion as chunks of text with their token ids and, where
   * `options.logprobs.tokens` asks, their logprobs; the result holds the prompt's logprobs
   * where `options.logprobs.prompt` asks.
   */
  async *chunks(
    prompt: Prompt,
    options: BatchedGenerationOptions = {},
  ): AsyncGenerator<LogprobChunk, BatchedGenerationResult> {
    const ids = this.model.encodePrompt(prompt, options.template, options.chatTemplateKwargs);
    const { sequence, close } = await this.#open(options);
    try {
      const { tokenizer } = this.model;
      const eosIds = [...tokenizer.eosIds, ...(options.eosIds ?? [])];
      const chunks = streamTokens(sequence, tokenizer, ids, { ...options, eosIds });
      let given = 0; // tokens whose logprobs went out
      while (true) {
        const next = await chunks.next();
        if (next.done) {
          const { tokens } = next.value, asked = options.logprobs ?? {};
          return {
            ...next.value,
            promptIds: ids,
            tokenLogprobs: asked.tokens === undefined
              ? null
              : sequence.tokenLogprobs.slice(0, tokens.length),
            promptLogprobs: asked.prompt === undefined ? null : sequence.promptLogprobs,
          };
        }
        const { tokenIds } = next.value, asked = options.logprobs ?? {};
        const logprobs = asked.tokens === undefined
          ? []
          : sequence.tokenLogprobs.slice(given, given + tokenIds.length);
        const first = given === 0 && asked.prompt !== undefined;
        given += tokenIds.length;
        yield {
          ...next.value,
          logprobs,
          ...(first ? { promptLogprobs: sequence.promptLogprobs } : {}),
        };
      }
    } finally {
      close();
    }
  }

  /**
   * The logprobs of each prompt token given the ones before it (the first: null), with `topK`
   * alternatives each: OpenAI's `echo` with `max_tokens: 0`, as lm-evaluation-harness asks for
   * loglikelihoods. Nothing is generated.
   */
  async scorePrompt(
    prompt: Prompt,
    topK: number,
    options: Pick<TextGenerationOptions, "adapter" | "signal" | "template" | "chatTemplateKwargs"> =
      {},
  ): Promise<{ promptIds: number[]; promptLogprobs: (TokenLogprob | null)[] }> {
    const ids = this.model.encodePrompt(prompt, options.template, options.chatTemplateKwargs);
    const { sequence, close } = await this.#open({
      ...options,
      maxTokens: 1, // the prefill samples one token, which is dropped
      logprobs: { prompt: topK },
    });
    try {
      await sequence.prefillSample(ids, resolveSampling({ temperature: 0 }), options.signal);
      return { promptIds: ids, promptLogprobs: sequence.promptLogprobs };
    } finally {
      close();
    }
  }

  /**
   * A new sequence of the scheduler with `options`' adapter in a GPU slot, and the function
   * that frees both.
   */
  async #open(
    options: BatchedGenerationOptions,
  ): Promise<{ sequence: BatchSequence; close: () => void }> {
    const name = options.adapter ?? null;
    const weights = name === null ? null : this.model.adapterWeights(name);
    if (weights === undefined) throw new Error(`Unknown adapter ${JSON.stringify(name)}`);
    const slot = weights ? await this.#slots.acquire(name!, weights, options.signal) : -1;
    const group = options.sharedPrefill;
    const source = group ? prefillSources.get(group) ?? null : null;
    const sequence = this.#scheduler.open(slot, options.maxTokens, options.logprobs, source);
    if (group && !source) prefillSources.set(group, sequence);
    const close = () => {
      sequence.close();
      if (slot >= 0) this.#slots.release(slot);
    };
    return { sequence, close };
  }

  /** Frees the batch buffers (not the model). */
  dispose(): void {
    this.engine.dispose();
  }
}
