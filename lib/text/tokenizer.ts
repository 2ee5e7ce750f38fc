/**
 * Text ↔ token ids for Hugging Face tokenizers (`tokenizer.json` + `tokenizer_config.json`),
 * plus the model's chat template. Wraps `@huggingface/tokenizers` and `@huggingface/jinja`.
 *
 * @module
 */
import { Template, Tokenizer } from "../deps.ts";
import { type ChatTemplateKwargs, checkChatTemplateKwargs } from "./chat_template_kwargs.ts";

/** One chat message, as passed to a chat template. */
export interface ChatMessage {
  /** Who speaks. */
  role: "system" | "user" | "assistant";
  /** What they say. */
  content: string;
}

/** Options for {@linkcode TextTokenizer.fromJson}. */
export interface TextTokenizerOptions {
  /**
   * Whether `encode` puts the BOS token first. Defaults to the config's `add_bos_token`, and
   * when that is absent, to whatever the tokenizer's post-processor does (as Hugging Face does).
   */
  addBosToken?: boolean;
  /** Extra end-of-sequence ids, e.g. `<|eot_id|>` = 128009 for Llama 3 instruct models. */
  eosIds?: number[];
  /** A parsed `generation_config.json`; its `eos_token_id` (a number or list) joins `eosIds`. */
  generationConfig?: unknown;
}

/**
 * Everything a {@linkcode TextTokenizer} is made from, as plain JSON values: it can be posted to
 * a Worker (structured clone) and made into an equal tokenizer there with
 * {@linkcode TextTokenizer.fromSpec}.
 */
export interface TextTokenizerSpec {
  /** The parsed `tokenizer.json`. */
  tokenizerJson: Record<string, unknown>;
  /** The parsed `tokenizer_config.json` (empty when there was none). */
  config: Record<string, unknown>;
  /** The options it was made with. */
  options: TextTokenizerOptions;
}

/** Options of {@linkcode TextTokenizer.applyChatTemplate}. */
export interface ChatTemplateOptions {
  /** End with the header of an assistant turn, for generation. Default false. */
  addGenerationPrompt?: boolean;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3. */
  chatTemplateKwargs?: ChatTemplateKwargs;
}

const ROLES = new Set(["system", "user", "assistant"]);

/** Returns `value` as a plain object, or throws naming `what`. */
function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${what} must be a JSON object, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}

/** A special token in `tokenizer_config.json` is a string or an `{content}` object. */
function specialTokenText(config: Record<string, unknown>, key: string): string | null {
  const value = config[key];
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  if (typeof value === "object" && typeof (value as { content?: unknown }).content === "string") {
    return (value as { content: string }).content;
  }
  throw new TypeError(`Tokenizer config ${key} must be a string, got ${JSON.stringify(value)}`);
}

/** Picks the default chat template: a string, a `[{name, template}]` list, or a name map. */
function defaultChatTemplate(config: Record<string, unknown>): string | null {
  const value = config.chat_template;
  if (value === undefined || value === null) return null;
  if (typeof value === "string") return value;
  const named = Array.isArray(value)
    ? value.find((t) => t?.name === "default")?.template
    : (value as Record<string, unknown>).default;
  if (typeof named !== "string") {
    throw new TypeError(
      `Tokenizer config chat_template has no "default" template, got ${
        JSON.stringify(value).slice(0, 200)
      }`,
    );
  }
  return named;
}

/** Reads `eos_token_id` (a number or a list of numbers) from a generation config. */
function generationEosIds(generationConfig: unknown): number[] {
  const value = asObject(generationConfig, "Generation config").eos_token_id;
  if (value === undefined || value === null) return [];
  const ids = Array.isArray(value) ? value : [value];
  if (!ids.every((id) => Number.isInteger(id))) {
    throw new TypeError(`Generation config eos_token_id must be integers, got ${value}`);
  }
  return ids;
}

/**
 * A tokenizer: byte-exact `encode`/`decode`, special-token facts, and the chat template.
 *
 * @example
 * ```ts
 * const tok = TextTokenizer.fromJson(tokenizerJson, tokenizerConfigJson);
 * const ids = tok.encode("Hello"); // [128000, 9906] for Llama 3
 * tok.decode(ids, { skipSpecialTokens: true }); // "Hello"
 * ```
 */
export class TextTokenizer {
  /** The number of token ids: one more than the largest id, added tokens included. */
  readonly vocabSize: number;
  /** The id of the beginning-of-sequence token, or null when the config names none. */
  readonly bosId: number | null;
  /** Ids that end generation: the config's `eos_token` plus any extra ids given. */
  readonly eosIds: number[];
  /**
   * The id that pads a batch: the config's `pad_token` (Qwen's `<|endoftext|>`), else (also when
   * that token is not in the vocabulary) the first EOS id; null when there is neither.
   */
  readonly padId: number | null;
  /** What it was made from, for {@linkcode TextTokenizer.fromSpec} in another thread. */
  readonly spec: TextTokenizerSpec;
  readonly #tokenizer: Tokenizer;
  readonly #specialIds: Set<number>;
  readonly #addBos: boolean | undefined;
  readonly #postProcessorAddsBos: boolean;
  readonly #templateSource: string | null;
  readonly #templateVars: Record<string, string>;
  #template: Template | null = null;

  private constructor(
    tokenizerJson: Record<string, unknown>,
    config: Record<string, unknown>,
    options: TextTokenizerOptions,
  ) {
    this.spec = { tokenizerJson, config, options };
    try {
      this.#tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (err) {
      throw new Error(`Tokenizer JSON could not be loaded: ${(err as Error).message}`);
    }
    let maxId = -1;
    for (const id of this.#tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.#specialIds = new Set(
      [...this.#tokenizer.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) =>
        id
      ),
    );

    this.#templateVars = {};
    for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
      const text = specialTokenText(config, key);
      if (text !== null) this.#templateVars[key] = text;
    }
    const idOf = (key: string): number | null => {
      const text = this.#templateVars[key];
      if (text === undefined) return null;
      const id = this.tokenToId(text);
      if (id === undefined) {
        throw new RangeError(`Tokenizer config ${key} "${text}" is not in the vocabulary`);
      }
      return id;
    };
    this.bosId = idOf("bos_token");
    const eos = idOf("eos_token");
    const eosIds = [
      ...(eos === null ? [] : [eos]),
      ...(options.eosIds ?? []),
      ...(options.generationConfig === undefined ? [] : generationEosIds(options.generationConfig)),
    ];
    for (const id of eosIds) this.#checkId(id, "EOS id");
    this.eosIds = [...new Set(eosIds)];
    // Padding is masked from the loss, so a pad_token missing from the vocabulary is no error.
    const pad = this.#templateVars.pad_token;
    this.padId = (pad === undefined ? undefined : this.tokenToId(pad)) ?? this.eosIds[0] ?? null;

    const configAddBos = config.add_bos_token;
    this.#addBos = options.addBosToken ??
      (typeof configAddBos === "boolean" ? configAddBos : undefined);
    this.#postProcessorAddsBos = this.bosId !== null &&
      this.#tokenizer.encode("", { add_special_tokens: true }).ids[0] === this.bosId;
    this.#templateSource = defaultChatTemplate(config);
  }

  /**
   * Builds a tokenizer from a parsed `tokenizer.json` and, optionally, a parsed
   * `tokenizer_config.json` (which names the BOS/EOS tokens and holds the chat template).
   */
  static fromJson(
    tokenizerJson: unknown,
    tokenizerConfigJson?: unknown,
    options: TextTokenizerOptions = {},
  ): TextTokenizer {
    const json = asObject(tokenizerJson, "Tokenizer JSON");
    if (typeof json.model !== "object" || json.model === null) {
      throw new TypeError(`Tokenizer JSON has no "model" object, got ${typeof json.model}`);
    }
    const config = tokenizerConfigJson === undefined
      ? {}
      : asObject(tokenizerConfigJson, "Tokenizer config");
    return new TextTokenizer(json, config, options);
  }

  /**
   * Makes the tokenizer `spec` describes (see {@linkcode TextTokenizer.spec}), e.g. in a Worker
   * that received it.
   *
   * @example
   * ```ts
   * worker.postMessage(model.tokenizer.spec);
   * // in the worker:
   * self.onmessage = (e) => { const tokenizer = TextTokenizer.fromSpec(e.data); };
   * ```
   */
  static fromSpec(spec: TextTokenizerSpec): TextTokenizer {
    return TextTokenizer.fromJson(spec.tokenizerJson, spec.config, spec.options);
  }

  /**
   * Text to ids. With `addSpecialTokens` (the default) the post-processor's special tokens are
   * added (BOS for Llama), adjusted by `add_bos_token` when the config or options set it.
   * Special-token text inside `text`, e.g. `<|eot_id|>`, becomes its special id.
   */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    if (typeof text !== "string") {
      throw new TypeError(`Text to encode must be a string, got ${typeof text}`);
    }
    const addSpecial = options.addSpecialTokens ?? true;
    const ids = this.#tokenizer.encode(text, { add_special_tokens: addSpecial }).ids;
    if (!addSpecial || this.bosId === null || this.#addBos === undefined) return ids;
    if (this.#addBos && !this.#postProcessorAddsBos) return [this.bosId, ...ids];
    if (!this.#addBos && this.#postProcessorAddsBos) return ids.slice(1);
    return ids;
  }

  /**
   * Ids to text, byte-exact: no clean-up of spaces, so `decode(encode(s, {addSpecialTokens:
   * false})) === s`. Bytes of an incomplete UTF-8 character decode to U+FFFD.
   */
  decode(ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
    for (const id of ids) this.#checkId(id, "Token id");
    if (ids.length === 0) return ""; // the library rejects an empty list
    return this.#tokenizer.decode(ids, {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** The token string of `id` (byte-level form, e.g. `Ġworld`), or undefined. */
  idToToken(id: number): string | undefined {
    return this.#tokenizer.id_to_token(id);
  }

  /** The id of a token string (byte-level form), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.#tokenizer.token_to_id(token);
  }

  /** Whether `id` is a special added token (BOS, EOS, headers, reserved tokens). */
  isSpecial(id: number): boolean {
    return this.#specialIds.has(id);
  }

  /** Whether `tokenizer_config.json` carries a chat template. */
  get hasChatTemplate(): boolean {
    return this.#templateSource !== null;
  }

  /**
   * Renders messages with the model's chat template. The result already holds the BOS text
   * when the template writes it, so encode it with `{ addSpecialTokens: false }`. The
   * `chatTemplateKwargs` are template variables, and may override the special tokens' text
   * (`bos_token`, `eos_token`...), as in Hugging Face's `apply_chat_template`.
   */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (this.#templateSource === null) {
      throw new Error(
        "Tokenizer has no chat_template in tokenizer_config.json; format prompts with " +
          "prompt_template.ts instead",
      );
    }
    messages.forEach((m, i) => {
      if (!ROLES.has(m?.role) || typeof m.content !== "string") {
        throw new TypeError(
          `Chat message ${i} must have role system|user|assistant and string content, got ${
            JSON.stringify(m)
          }`,
        );
      }
    });
    const kwargs = options.chatTemplateKwargs === undefined
      ? {}
      : checkChatTemplateKwargs(options.chatTemplateKwargs);
    try {
      this.#template ??= new Template(this.#templateSource);
      return this.#template.render({
        ...this.#templateVars,
        ...kwargs,
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
      });
    } catch (err) {
      throw new Error(`Chat template failed: ${(err as Error).message}`);
    }
  }

  #checkId(id: number, what: string): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`${what} ${id} is outside the vocabulary [0, ${this.vocabSize})`);
    }
  }
}
