/**
 * The generation loop: prefill the prompt, then sample a token, turn it into text, check for
 * EOS and stop strings, and decode the next step. Text streams out in chunks that never split
 * a UTF-8 character and never show the start of a stop string before it is known not to be one.
 *
 * Dimension letters: V vocab.
 *
 * @module
 */
import { NO_TOKEN, NonFiniteLogitsError } from "./non_finite_logits.ts";
import { IncrementalDetokenizer } from "../text/incremental_detokenizer.ts";
import { Rng } from "../util/rng.ts";
import {
  type ResolvedSampling,
  resolveSampling,
  sampleToken,
  type SamplingOptions,
} from "./sampling.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";

/** A model that turns tokens into next-token logits, keeping its own KV cache. */
export interface LogitsStepper {
  /** Clears the cache, runs the prompt and returns the logits (V) of its last position. */
  prefill(ids: number[], signal?: AbortSignal): Promise<Float32Array>;
  /** Appends one token and returns the logits (V) that follow it. */
  decode(id: number, signal?: AbortSignal): Promise<Float32Array>;
  /** The most tokens (prompt plus generated) the cache holds. */
  readonly maxContext: number;
}

/**
 * A model that samples on its own device and chains decode steps without a host round trip
 * per token (the WebGPU model): only the sampled ids come back.
 */
export interface TokenSampler {
  /** Clears the cache, runs the prompt and samples the first token. */
  prefillSample(ids: number[], sampling: ResolvedSampling, signal?: AbortSignal): Promise<number>;
  /**
   * Appends the last sampled token and samples `count` more in one submit; `firstStep` is the
   * index of the first of them among the generated tokens (it seeds the draws).
   */
  decodeSample(
    count: number,
    sampling: ResolvedSampling,
    firstStep: number,
    signal?: AbortSignal,
  ): Promise<number[]>;
  /** The most tokens (prompt plus generated) the cache holds. */
  readonly maxContext: number;
  /** Tokens asked of each `decodeSample` call; default {@linkcode DECODE_CHAIN}. */
  readonly decodeChain?: number;
}

/** Decode steps chained per readback on a {@linkcode TokenSampler}. */
export const DECODE_CHAIN = 8;

/** Options for {@linkcode streamTokens} and {@linkcode generateText}. */
export interface GenerateOptions extends SamplingOptions {
  /** The most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Strings that end generation; the text stops before the first one. */
  stop?: string[];
  /** Ids that end generation. Default the tokenizer's `eosIds`. */
  eosIds?: number[];
  /** Aborts generation; the result so far comes back with finishReason "abort". */
  signal?: AbortSignal;
}

/** A piece of streamed text and the ids sampled since the previous chunk. */
export interface GenerationChunk {
  /** New text: whole characters, never empty. */
  text: string;
  /** The ids sampled since the previous chunk (an EOS id is in no chunk). */
  tokenIds: number[];
}

/** The outcome of a generation. */
export interface GenerationResult {
  /** All generated text: the chunks joined, without the stop string. */
  text: string;
  /** Every sampled id, the final EOS id included. */
  tokens: number[];
  /** Ids in the prompt. */
  promptTokens: number;
  /** Ids sampled: `tokens.length`. */
  completionTokens: number;
  /** "stop": EOS or a stop string; "length": maxTokens or a full context; "abort": signal. */
  finishReason: "stop" | "length" | "abort";
}

const DEFAULT_MAX_TOKENS = 256;
/** Prompt ids the detokenizer decodes before the first new token (vLLM uses 5 too). */
const CONTEXT_IDS = 5;

/**
 * Holds back text that might be the start of a stop string and cuts the text at the first
 * stop string. Stop strings never start inside released text: a released text never ends
 * with a proper prefix of one.
 */
class StopStringFilter {
  readonly #stops: string[];
  #held = "";

  constructor(stops: string[]) {
    this.#stops = stops;
  }

  /** Adds text; returns what can be released and whether a stop string was reached. */
  push(text: string): { text: string; stopped: boolean } {
    const buffer = this.#held + text;
    let cut = -1;
    for (const stop of this.#stops) {
      const at = buffer.indexOf(stop);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      this.#held = "";
      return { text: buffer.slice(0, cut), stopped: true };
    }
    let hold = 0;
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, buffer.length); n > hold; n--) {
        if (buffer.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    this.#held = buffer.slice(buffer.length - hold);
    return { text: buffer.slice(0, buffer.length - hold), stopped: false };
  }

  /** Releases the held text: no more text is coming, so it starts no stop string. */
  flush(): string {
    const held = this.#held;
    this.#held = "";
    return held;
  }
}

/** Throws unless the prompt and generation options are usable. */
function checkInputs(
  stepper: LogitsStepper | TokenSampler,
  tokenizer: TextTokenizer,
  promptIds: number[],
  maxTokens: number,
  stop: string[],
): void {
  if (promptIds.length === 0) throw new RangeError("Prompt is empty: at least one token is needed");
  const bad = promptIds.find((id) =>
    !(Number.isInteger(id) && id >= 0 && id < tokenizer.vocabSize)
  );
  if (bad !== undefined) {
    throw new RangeError(
      `Prompt token id ${bad} is outside the vocabulary [0, ${tokenizer.vocabSize})`,
    );
  }
  if (promptIds.length >= stepper.maxContext) {
    throw new RangeError(
      `Prompt of ${promptIds.length} tokens leaves no room in the context of ${stepper.maxContext}`,
    );
  }
  if (!(Number.isInteger(maxTokens) && maxTokens >= 1)) {
    throw new RangeError(`maxTokens must be an integer ≥ 1, got ${maxTokens}`);
  }
  const badStop = stop.find((s) => typeof s !== "string" || s === "");
  if (badStop !== undefined) {
    throw new TypeError(`Stop strings must be non-empty strings, got ${JSON.stringify(badStop)}`);
  }
}

/**
 * Generates from `promptIds`, yielding text chunks as they become final, and returns the
 * result. A {@linkcode TokenSampler} (the WebGPU model) samples on its device in chains of
 * {@linkcode DECODE_CHAIN} steps per readback; a plain {@linkcode LogitsStepper} samples on the
 * host with {@linkcode sampleToken} and a {@linkcode Rng}. Both follow the same semantics and
 * give the same greedy tokens; seeded draws are reproducible per backend. Special tokens other
 * than EOS are left out of the text.
 *
 * @example
 * ```ts
 * const ids = tokenizer.encode(formatPrompt("为什么天是蓝的？"));
 * const stream = streamTokens(model, tokenizer, ids, { temperature: 0.7, stop: ["\nHuman:"] });
 * for await (const chunk of stream) await Deno.stdout.write(new TextEncoder().encode(chunk.text));
 * ```
 */
export async function* streamTokens(
  stepper: LogitsStepper | TokenSampler,
  tokenizer: TextTokenizer,
  promptIds: number[],
  options: GenerateOptions = {},
): AsyncGenerator<GenerationChunk, GenerationResult> {
  const { maxTokens = DEFAULT_MAX_TOKENS, stop = [], signal } = options;
  checkInputs(stepper, tokenizer, promptIds, maxTokens, stop);
  const eosIds = new Set(options.eosIds ?? tokenizer.eosIds);
  const limit = Math.min(maxTokens, stepper.maxContext - promptIds.length);
  const detokenizer = new IncrementalDetokenizer(tokenizer, {
    contextIds: promptIds.slice(-CONTEXT_IDS),
  });
  const filter = new StopStringFilter(stop);
  const tokens: number[] = [];
  let text = "";
  let unsent: number[] = []; // ids sampled since the last chunk
  let finishReason: GenerationResult["finishReason"] = "length";
  let stopped = false; // a stop string was found

  try {
    signal?.throwIfAborted();
    const batches = sampledTokens(stepper, promptIds, resolveSampling(options), limit, signal);
    generation: for await (const batch of batches) {
      for (const id of batch) {
        if (id === NO_TOKEN) throw new NonFiniteLogitsError(tokens.length);
        tokens.push(id);
        if (eosIds.has(id)) {
          finishReason = "stop";
          break generation;
        }
        unsent.push(id);
        const piece = filter.push(detokenizer.push(id));
        if (piece.text !== "") {
          text += piece.text;
          yield { text: piece.text, tokenIds: unsent };
          unsent = [];
        }
        if (piece.stopped) {
          [finishReason, stopped] = ["stop", true];
          break generation;
        }
        if (tokens.length >= limit) break generation;
      }
      signal?.throwIfAborted();
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
    finishReason = "abort";
  }

  if (!stopped) {
    // No more tokens: release incomplete characters and held text, still cut at a stop string.
    const piece = filter.push(detokenizer.flush());
    if (piece.stopped) finishReason = "stop";
    const rest = piece.text + (piece.stopped ? "" : filter.flush());
    if (rest !== "") {
      text += rest;
      yield { text: rest, tokenIds: unsent };
    }
  }
  return {
    text,
    tokens,
    promptTokens: promptIds.length,
    completionTokens: tokens.length,
    finishReason,
  };
}

/**
 * The sampled ids of a generation in batches: one at a time with host sampling from a
 * {@linkcode LogitsStepper}, or the first alone and then chains of {@linkcode DECODE_CHAIN}
 * from a {@linkcode TokenSampler}. The consumer stops it; it never samples past `limit`.
 */
async function* sampledTokens(
  stepper: LogitsStepper | TokenSampler,
  promptIds: number[],
  sampling: ResolvedSampling,
  limit: number,
  signal?: AbortSignal,
): AsyncGenerator<number[]> {
  if ("prefillSample" in stepper) {
    yield [await stepper.prefillSample(promptIds, sampling, signal)];
    for (let produced = 1; produced < limit;) {
      const count = Math.min(stepper.decodeChain ?? DECODE_CHAIN, limit - produced);
      yield await stepper.decodeSample(count, sampling, produced, signal);
      produced += count;
    }
    return;
  }
  const rng = new Rng(sampling.seed);
  const history = [...promptIds]; // prompt and generated ids, for the repetition penalty
  let logits = await stepper.prefill(promptIds, signal); // (V)
  while (true) {
    const id = logits.some(Number.isNaN)
      ? NO_TOKEN
      : sampleToken(logits, sampling, rng, history, promptIds.length);
    history.push(id);
    yield [id];
    logits = await stepper.decode(id, signal);
  }
}

/**
 * Generates from `promptIds` and returns the whole result; see {@linkcode streamTokens}.
 *
 * @example
 * ```ts
 * const result = await generateText(model, tokenizer, ids, { maxTokens: 64, temperature: 0 });
 * console.log(result.text, result.finishReason);
 * ```
 */
export async function generateText(
  stepper: LogitsStepper | TokenSampler,
  tokenizer: TextTokenizer,
  promptIds: number[],
  options: GenerateOptions = {},
): Promise<GenerationResult> {
  const stream = streamTokens(stepper, tokenizer, promptIds, options);
  while (true) {
    const next = await stream.next();
    if (next.done) return next.value;
  }
}
