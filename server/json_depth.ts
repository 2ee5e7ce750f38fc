/**
 * The nesting depth of JSON text, measured without parsing it, so that a request nested
 * millions deep is refused in one quick pass instead of tying up `JSON.parse` (and everything
 * that walks the result) for seconds.
 *
 * @module
 */

/** The deepest JSON nesting a request may have: far beyond any real request or record. */
export const MAX_JSON_DEPTH = 32;

const OPEN_BRACE = 0x7b, OPEN_BRACKET = 0x5b, CLOSE_BRACE = 0x7d, CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22, BACKSLASH = 0x5c;

/**
 * Whether JSON `text` nests objects and arrays deeper than `limit` (brackets inside strings do
 * not count). Stops at the first point past the limit. Text that is not JSON is measured all
 * the same; parsing it reports what is wrong.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
