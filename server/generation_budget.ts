/**
 * How many tokens a generation may produce: the prompt within the server's prompt limit, and
 * `max_tokens` within the server's cap and the context left after the prompt (OpenAI-style
 * 400s, naming the parameter, otherwise).
 *
 * @module
 */
import { ApiError } from "./errors.ts";

/** A 400 `context_length_exceeded` for a prompt (`what`) over `limit` prompt tokens. */
export function promptTooLong(what: string, limit: number, param: string): ApiError {
  return new ApiError(400, `${what} exceeds this server's limit of ${limit} prompt tokens`, {
    param,
    code: "context_length_exceeded",
  });
}

/** The sizes {@linkcode tokenBudget} checks. */
export interface TokenBudgetInput {
  /** Tokens in the prompt. */
  promptTokens: number;
  /** The request's `max_tokens`, if it gave one. */
  requested: number | null | undefined;
  /** The server's cap on generated tokens. */
  cap: number;
  /** The model's context, prompt and generation together. */
  maxContext: number;
  /** The server's limit on prompt tokens. */
  maxPromptTokens: number;
  /** The request field the prompt came in (`prompt`, `messages`, `prompt.N`). */
  param: string;
}

/**
 * The generation's `max_tokens`: the request's, or all the room the context leaves (up to the
 * cap). Throws a 400 for an empty or too long prompt and for a `max_tokens` over the cap or
 * the room.
 *
 * @example
 * ```ts
 * tokenBudget({ promptTokens: 3, requested: undefined, cap: 512, maxContext: 256, maxPromptTokens: 255, param: "prompt" }); // 253
 * ```
 */
export function tokenBudget(input: TokenBudgetInput): number {
  const { promptTokens, cap, maxContext, maxPromptTokens, param } = input;
  if (promptTokens === 0) {
    throw new ApiError(400, `Invalid ${param}: the prompt has no tokens`, { param });
  }
  if (promptTokens > maxPromptTokens) {
    throw promptTooLong(`Prompt of ${promptTokens} tokens`, maxPromptTokens, param);
  }
  const room = Math.min(cap, maxContext - promptTokens);
  const maxTokens = input.requested ?? room;
  if (maxTokens > cap) {
    throw new ApiError(400, `Requested max_tokens ${maxTokens} exceeds this server's cap ${cap}`, {
      param: "max_tokens",
    });
  }
  if (maxTokens > room) {
    throw new ApiError(
      400,
      `Prompt of ${promptTokens} tokens plus max_tokens ${maxTokens} exceeds the context of ${maxContext}`,
      { param: "max_tokens", code: "context_length_exceeded" },
    );
  }
  return maxTokens;
}
