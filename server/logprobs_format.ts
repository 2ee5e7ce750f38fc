/**
 * Logprobs in OpenAI's response shapes: chat's `{content: [{token, logprob, bytes,
 * top_logprobs}]}` and the legacy completions' `{tokens, token_logprobs, top_logprobs,
 * text_offset}`. A token's text is its own decoding (special tokens included), its bytes that
 * text's UTF-8, and completion text offsets count those texts from the start of the choice's
 * text, across the chunks of a stream (as vLLM does).
 *
 * @module
 */
import type { TextTokenizer, TokenLogprob } from "../mod.ts";

/** A token's text as logprobs show it. */
function tokenText(tokenizer: TextTokenizer, id: number): string {
  return tokenizer.decode([id], { skipSpecialTokens: false });
}

/** Chat's logprob of one token: its text, logprob and UTF-8 bytes. */
function chatEntry(tokenizer: TextTokenizer, id: number, logprob: number) {
  const token = tokenText(tokenizer, id);
  return { token, logprob, bytes: [...new TextEncoder().encode(token)] };
}

/** Chat's `logprobs` object of tokens `ids` with their logprobs `lps` (as many). */
export function chatLogprobs(
  tokenizer: TextTokenizer,
  ids: number[],
  lps: (TokenLogprob | null)[],
): { content: Record<string, unknown>[] } {
  return {
    content: ids.map((id, i) => ({
      ...chatEntry(tokenizer, id, lps[i]?.logprob ?? NaN),
      top_logprobs: (lps[i]?.top ?? []).map((t) => chatEntry(tokenizer, t.id, t.logprob)),
    })),
  };
}

/**
 * The completions' `logprobs` object of one choice, built chunk by chunk: each call covers the
 * next tokens, and text offsets run on from the previous call's.
 */
export class CompletionLogprobs {
  readonly #tokenizer: TextTokenizer;
  #offset = 0;

  /** Logprobs of tokens of `tokenizer`. */
  constructor(tokenizer: TextTokenizer) {
    this.#tokenizer = tokenizer;
  }

  /**
   * The object for tokens `ids` and their logprobs `lps` (null: none, as the first prompt
   * token's). Each token's top logprobs also hold the token itself, so there may be one more
   * than asked for, as OpenAI documents.
   */
  next(ids: number[], lps: (TokenLogprob | null)[]): Record<string, unknown[]> {
    const tokens = ids.map((id) => tokenText(this.#tokenizer, id));
    const text_offset = tokens.map((t) => (this.#offset += t.length) - t.length);
    return {
      tokens,
      token_logprobs: lps.map((lp) => lp?.logprob ?? null),
      top_logprobs: lps.map((lp, i) => {
        if (!lp) return null;
        const entries = lp.top.map((t) => [tokenText(this.#tokenizer, t.id), t.logprob]);
        if (!lp.top.some((t) => t.id === ids[i])) entries.push([tokens[i], lp.logprob]);
        return Object.fromEntries(entries);
      }),
      text_offset,
    };
  }
}
