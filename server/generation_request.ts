/**
 * What a generation route asks the server engine for ({@linkcode GenerationRequest}, after the
 * request body is validated), and what the engine reports of each finished generation.
 *
 * @module
 */
import type { ChatMessage, ChatTemplateKwargs, GenerationResult, SharedPrefill } from "../mod.ts";

/** What `ServerEngine.stream` (`engine.ts`) generates from. */
export interface GenerationRequest {
  /** The base model's id or an adapter's name. */
  model: string;
  /** A raw prompt (no template), chat messages, or token ids used as they are. */
  prompt: string | ChatMessage[] | { tokenIds: number[] };
  /** The request field the prompt came from, for errors; default `prompt` or `messages`. */
  param?: string;
  /**
   * Variables of the chat template for chat messages (vLLM's `chat_template_kwargs`); unused
   * when the model has no chat template.
   */
  chatTemplateKwargs?: ChatTemplateKwargs;
  /** Most tokens to generate; default the most the context and cap allow. */
  maxTokens?: number | null;
  /** 0 is greedy. Default 1. */
  temperature?: number | null;
  /** Nucleus sampling. */
  topP?: number | null;
  /** Top-k sampling; 0 or −1 is off. */
  topK?: number | null;
  /** Repetition penalty; 1 is off. */
  repetitionPenalty?: number | null;
  /** OpenAI's presence penalty over the generated ids, in [−2, 2]; 0 is off. */
  presencePenalty?: number | null;
  /** OpenAI's frequency penalty over the generated ids, in [−2, 2]; 0 is off. */
  frequencyPenalty?: number | null;
  /** Min-p (vLLM's); 0 is off. */
  minP?: number | null;
  /** Sampling seed. */
  seed?: number | null;
  /** Stop strings. */
  stop?: string[];
  /** Token ids that end generation besides the tokenizer's EOS (vLLM's `stop_token_ids`). */
  stopTokenIds?: number[];
  /** Top logprobs to return with each generated token (0: its own alone); absent: none. */
  logprobs?: number | null;
  /** Top logprobs to return with each prompt token (echo); absent: none. */
  promptLogprobs?: number | null;
  /** Shares the prompt's prefill with the requests given the same object (choices of `n`). */
  sharedPrefill?: SharedPrefill;
}

/** A finished generation, for logs and metrics. */
export interface GenerationInfo {
  /** The model id requested. */
  model: string;
  /** Prompt tokens. */
  promptTokens: number;
  /** Generated tokens. */
  completionTokens: number;
  /** Why it ended ("abort" when the client went away). */
  finishReason: GenerationResult["finishReason"];
  /** Seconds from the turn's start to the end. */
  seconds: number;
}
