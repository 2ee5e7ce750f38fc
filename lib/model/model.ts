/**
 * A loaded model: config, tokenizer, a compute engine (WebGPU or CPU), and text generation
 * with optional LoRA adapters applied unmerged and switched per request without reloading.
 *
 * @module
 */
import { AsyncLock } from "../util/async_lock.ts";
import {
  type GenerateOptions,
  generateText,
  type GenerationResult,
  streamTokens,
} from "../generate/generate.ts";
import { encodeText } from "../text/encode_text.ts";
import type { Gpu } from "../gpu/device.ts";
import type { ModelConfig } from "./config.ts";
import type { LoraConfig } from "../lora/lora_config.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import { destroyWeights, type GpuWeights } from "./gpu_weights.ts";
import type { Backend, EngineAdapter, InferenceEngine } from "./engine.ts";
import { formatPrompt } from "../text/prompt_template.ts";
import type { ChatMessage, TextTokenizer } from "../text/tokenizer.ts";
import type { ChatTemplateKwargs } from "../text/chat_template_kwargs.ts";

/** How a string prompt becomes text: the `Human: …\nAssistant:` template, the chat template, or as is. */
export type PromptTemplate = "default" | "chat" | "none";

/**
 * What to complete: text (templated as `template` says), chat messages (the chat template), or
 * token ids already encoded with {@linkcode Model.encodePrompt}.
 */
export type Prompt = string | ChatMessage[] | { ids: number[] };

/** Options of {@linkcode Model.generate} and {@linkcode Model.stream}. */
export interface TextGenerationOptions extends Omit<GenerateOptions, "eosIds"> {
  /** How a string prompt is templated; default "default". Messages always use "chat". */
  template?: PromptTemplate;
  /** Variables of the chat template, e.g. `{ enable_thinking: false }` for Qwen3. */
  chatTemplateKwargs?: ChatTemplateKwargs;
  /** Name of an adapter added with {@linkcode Model.addAdapter}; none by default. */
  adapter?: string | null;
  /** Extra end-of-sequence ids besides the tokenizer's. */
  eosIds?: number[];
}

/** What {@linkcode Model} is built from. */
export interface ModelParts {
  /** The source's name (folder or URL). */
  name: string;
  /** The model's config. */
  config: ModelConfig;
  /** The tokenizer, or null for a checkpoint without tokenizer files. */
  tokenizer: TextTokenizer | null;
  /** The compute engine. */
  engine: InferenceEngine;
  /** The device, for the GPU engine. */
  gpu: Gpu | null;
  /** GPU weights, freed by dispose. */
  weights: GpuWeights | null;
}

/**
 * A Llama ready to generate.
 *
 * @example
 * ```ts
 * const model = await loadModel(dir);
 * model.addAdapter("ruozhi", await readPeftAdapter(dirModelSource("./lora_output"), model.config));
 * for await (const delta of model.stream("只剩一个心脏了还能活吗？", { adapter: "ruozhi" })) {
 *   console.log(delta);
 * }
 * model.dispose();
 * ```
 */
export class Model {
  /** The model's config. */
  readonly config: ModelConfig;
  /** Folder or URL it came from. */
  readonly name: string;
  readonly #tokenizer: TextTokenizer | null;
  readonly #engine: InferenceEngine;
  readonly #gpu: Gpu | null;
  readonly #weights: GpuWeights | null;
  readonly #adapters = new Map<string, { weights: LoraWeights; applied: EngineAdapter }>();
  readonly #lock = new AsyncLock();

  /** Wraps an engine; use `loadModel` rather than this constructor. */
  constructor(parts: ModelParts) {
    this.config = parts.config;
    this.name = parts.name;
    this.#tokenizer = parts.tokenizer;
    this.#engine = parts.engine;
    this.#gpu = parts.gpu;
    this.#weights = parts.weights;
  }

  /** "webgpu" or "cpu". */
  get backend(): Backend {
    return this.#engine.backend;
  }

  /** KV-cache slots: the most tokens of prompt plus completion. */
  get maxContext(): number {
    return this.#engine.maxContext;
  }

  /** The device, on the WebGPU backend. */
  get gpu(): Gpu | null {
    return this.#gpu;
  }

  /** The GPU weights, on the WebGPU backend (training shares them). */
  get gpuWeights(): GpuWeights | null {
    return this.#weights;
  }

  /** The tokenizer; throws when the checkpoint has none. */
  get tokenizer(): TextTokenizer {
    if (!this.#tokenizer) throw new Error(`Model ${this.name} has no tokenizer.json`);
    return this.#tokenizer;
  }

  /** Names of the adapters added. */
  get adapterNames(): string[] {
    return [...this.#adapters.keys()];
  }

  /** The LoRA settings of the adapter `name`, or undefined when none has that name. */
  adapterConfig(name: string): LoraConfig | undefined {
    return this.#adapters.get(name)?.weights.config;
  }

  /** The host weights of the adapter `name` (a batched model uploads them itself), or undefined. */
  adapterWeights(name: string): LoraWeights | undefined {
    return this.#adapters.get(name)?.weights;
  }

  /** Adds (or replaces) a named LoRA adapter, applied unmerged when a request names it. */
  addAdapter(name: string, weights: LoraWeights): void {
    this.removeAdapter(name);
    this.#adapters.set(name, { weights, applied: this.#engine.createAdapter(weights) });
  }

  /** Removes a named adapter and frees its memory. */
  removeAdapter(name: string): void {
    this.#adapters.get(name)?.applied.destroy();
    this.#adapters.delete(name);
  }

  /** Logits of every position (T, V), without an adapter or with a named one. */
  forward(ids: number[], options: { adapter?: string | null } = {}): Promise<Float32Array> {
    return this.#lock.run(() => {
      this.#select(options.adapter ?? null);
      return this.#engine.logits(ids);
    });
  }

  /**
   * Token ids of a prompt: templated as asked (the chat template with `chatTemplateKwargs` as
   * its variables), then encoded with BOS; given ids pass as they are.
   */
  encodePrompt(
    prompt: Prompt,
    template: PromptTemplate = "default",
    chatTemplateKwargs?: ChatTemplateKwargs,
  ): number[] {
    if (typeof prompt === "object" && "ids" in prompt) return prompt.ids;
    const tok = this.tokenizer;
    const chat = (messages: ChatMessage[]) =>
      tok.applyChatTemplate(messages, { addGenerationPrompt: true, chatTemplateKwargs });
    if (Array.isArray(prompt)) return encodeText(tok, chat(prompt));
    if (template === "chat") return encodeText(tok, chat([{ role: "user", content: prompt }]));
    return encodeText(tok, template === "default" ? formatPrompt(prompt) : prompt);
  }

  /** Generates a completion and returns it whole. */
  generate(
    prompt: Prompt,
    options: TextGenerationOptions = {},
  ): Promise<GenerationResult> {
    const ids = this.encodePrompt(prompt, options.template, options.chatTemplateKwargs);
    return this.#lock.run(() => {
      this.#select(options.adapter ?? null);
      return generateText(this.#engine, this.tokenizer, ids, this.#generateOptions(options));
    });
  }

  /**
   * Streams a completion as text deltas. A multi-byte UTF-8 character is never split across
   * deltas. The model is held for the whole stream; other requests wait their turn.
   */
  async *stream(
    prompt: Prompt,
    options: TextGenerationOptions = {},
  ): AsyncGenerator<string, GenerationResult> {
    const ids = this.encodePrompt(prompt, options.template, options.chatTemplateKwargs);
    const release = await this.#lock.acquire();
    try {
      this.#select(options.adapter ?? null);
      const chunks = streamTokens(
        this.#engine,
        this.tokenizer,
        ids,
        this.#generateOptions(options),
      );
      while (true) {
        const next = await chunks.next();
        if (next.done) return next.value;
        if (next.value.text) yield next.value.text;
      }
    } finally {
      release();
    }
  }

  /**
   * Frees the KV cache and inference activations until the next generation needs them again.
   * Training calls it so that its own buffers have the room.
   */
  releaseBuffers(): void {
    this.#engine.releaseBuffers();
  }

  /** Frees GPU buffers (weights, caches, adapters). */
  dispose(): void {
    for (const name of [...this.#adapters.keys()]) this.removeAdapter(name);
    this.#engine.dispose();
    if (this.#weights) destroyWeights(this.#weights);
  }

  #generateOptions(options: TextGenerationOptions): GenerateOptions {
    return { ...options, eosIds: [...this.tokenizer.eosIds, ...(options.eosIds ?? [])] };
  }

  #select(adapter: string | null): void {
    const entry = adapter === null ? null : this.#adapters.get(adapter);
    if (entry === undefined) throw new Error(`Unknown adapter ${JSON.stringify(adapter)}`);
    this.#engine.setAdapter(entry?.applied ?? null);
  }
}
