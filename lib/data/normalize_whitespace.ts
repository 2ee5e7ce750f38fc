/**
 * Whitespace normalisation for training text.
 *
 * @module
 */

const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF]/g;
// Unicode space separators (category Zs) other than the ASCII space: NBSP, U+3000, thin spaces…
const OTHER_SPACES = /(?! )\p{Zs}/gu;
const TRAILING_SPACES = /[ \t]+$/gm;
const BLANK_LINE_RUNS = /\n{3,}/g;

/**
 * Normalises the whitespace of one text field:
 * - line endings become `\n`;
 * - zero-width characters (U+200B–U+200D, U+2060, U+FEFF) are removed;
 * - other Unicode spaces (no-break space, ideographic space U+3000, …) become an ASCII space;
 * - spaces and tabs at the end of each line are removed;
 * - runs of blank lines shrink to one blank line;
 * - leading and trailing whitespace is trimmed;
 * - the result is in Unicode normal form NFC.
 *
 * Runs of spaces inside a line are kept, so code indentation survives.
 *
 * @example
 * ```ts
 * normalizeWhitespace("  你好\u3000世界 \r\n\r\n\r\n再见\u200B "); // "你好 世界\n\n再见"
 * ```
 */
export function normalizeWhitespace(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .replace(ZERO_WIDTH, "")
    .replace(OTHER_SPACES, " ")
    .replace(TRAILING_SPACES, "")
    .replace(BLANK_LINE_RUNS, "\n\n")
    .trim()
    .normalize("NFC");
}
