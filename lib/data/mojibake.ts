/**
 * Detection of text damaged by a wrong decoding (mojibake) or binary noise.
 *
 * @module
 */

// U+FFFD (a decoder's replacement character), C0 controls except tab / newline / carriage
// return, DEL, and C1 controls (U+0080–U+009F, typical of UTF-8 read as Latin-1).
// deno-lint-ignore no-control-regex -- matching control characters is the point
const BAD_CHARACTER = /[\uFFFD\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

/**
 * Finds the first replacement or control character in a text.
 *
 * @returns a description such as `U+FFFD at offset 3`, or `undefined` when the text is clean
 *
 * @example
 * ```ts
 * findMojibake("caf\uFFFD"); // "U+FFFD at offset 3"
 * findMojibake("a\tb\n"); // undefined
 * ```
 */
export function findMojibake(text: string): string | undefined {
  const match = BAD_CHARACTER.exec(text);
  if (match === null) return undefined;
  const code = match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
  return `U+${code} at offset ${match.index}`;
}
