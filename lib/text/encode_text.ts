/**
 * Encoding text that may already start with the BOS token's text (chat templates such as
 * Llama 3's render `<|begin_of_text|>` themselves): the tokenizer's own BOS is then not added
 * again, so a sequence never starts with two BOS tokens.
 *
 * @module
 */
import type { TextTokenizer } from "./tokenizer.ts";

/** `tokenizer.encode(text)` with BOS added once, whether or not the text already holds it. */
export function encodeText(tokenizer: TextTokenizer, text: string): number[] {
  const ids = tokenizer.encode(text);
  const bos = tokenizer.bosId;
  return bos !== null && ids.length >= 2 && ids[0] === bos && ids[1] === bos ? ids.slice(1) : ids;
}
