/**
 * Turns a stream of token ids into a stream of text that never splits a UTF-8 character.
 * Byte-level BPE tokens can end in the middle of a multi-byte character; the detokenizer
 * decodes a short window of recent ids (as vLLM's incremental detokenizer does) and releases
 * its text up to the trailing run of U+FFFD that marks an incomplete character.
 *
 * @module
 */

/** The part of a tokenizer the detokenizer needs; `TextTokenizer` has it. */
export interface TokenDecoder {
  /** Ids to text; bytes of an incomplete character decode to U+FFFD. */
  decode(ids: number[], options?: { skipSpecialTokens?: boolean }): string;
}

/** Options for {@linkcode IncrementalDetokenizer}. */
export interface IncrementalDetokenizerOptions {
  /** Leave special tokens (BOS, EOS, chat headers) out of the text. Default true. */
  skipSpecialTokens?: boolean;
  /**
   * The last few prompt ids. Decoding starts after them, so a decoder that drops the leading
   * space of a sequence (SentencePiece's Metaspace) keeps the space of the first new token.
   */
  contextIds?: number[];
}

/** A run of U+FFFD at the end of text: the bytes of a character still incomplete. */
const INCOMPLETE_TAIL = /\uFFFD+$/;

/**
 * Incremental detokenizer: `push` each new id and get the text it completes; `flush` at the
 * end. After each push, the text returned so far is all the pushed ids decode to (after
 * `contextIds`), up to an incomplete trailing character; after `flush`, all of it.
 *
 * @example
 * ```ts
 * const detok = new IncrementalDetokenizer(tokenizer);
 * let text = "";
 * for (const id of ids) text += detok.push(id); // never a partial character
 * text += detok.flush();
 * ```
 */
export class IncrementalDetokenizer {
  readonly #decoder: TokenDecoder;
  readonly #skipSpecialTokens: boolean;
  #ids: number[]; // the decoding window: ids whose text is out, then ids with text pending
  #readOffset: number; // where the pending ids of #ids start
  #early = 0; // chars of the pending ids' text already returned before their last char ended

  constructor(decoder: TokenDecoder, options: IncrementalDetokenizerOptions = {}) {
    this.#decoder = decoder;
    this.#skipSpecialTokens = options.skipSpecialTokens ?? true;
    this.#ids = [...(options.contextIds ?? [])];
    this.#readOffset = this.#ids.length;
  }

  /** Adds one id; returns the text that is now complete (often "", never a partial char). */
  push(id: number): string {
    this.#ids.push(id);
    return this.#advance(false);
  }

  /** Returns all text not yet returned, an incomplete trailing character as U+FFFD. */
  flush(): string {
    return this.#advance(true);
  }

  #advance(force: boolean): string {
    const decode = (ids: number[]) =>
      this.#decoder.decode(ids, { skipSpecialTokens: this.#skipSpecialTokens });
    const out = decode(this.#ids.slice(0, this.#readOffset)).length + this.#early;
    const text = decode(this.#ids);
    if (force || !INCOMPLETE_TAIL.test(text)) {
      // Everything decodes whole: the next window starts with the ids just released.
      this.#ids = this.#ids.slice(this.#readOffset);
      this.#readOffset = this.#ids.length;
      this.#early = 0;
      return text.slice(out);
    }
    const stable = text.replace(INCOMPLETE_TAIL, "");
    if (stable.length <= out) return "";
    this.#early += stable.length - out;
    return stable.slice(out);
  }
}
