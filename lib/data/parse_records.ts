/**
 * Splits the text of a data set file into raw records: a JSON array, or JSON Lines (one value
 * per non-blank line). Each record keeps where it came from, for error messages.
 *
 * @module
 */

/** One record as parsed from the file, not yet validated. */
export interface RawRecord {
  /** The parsed JSON value. */
  value: unknown;
  /** Where it is, for messages: `line 3 of data.jsonl` (JSONL) or `index 2 of data.json`. */
  where: string;
}

/**
 * Parses a JSON array or JSONL text into records. The container is chosen by the first
 * non-blank character: `[` means a JSON array, anything else JSON Lines. A UTF-8 byte order
 * mark is ignored.
 *
 * @param text the file's contents
 * @param source a name for the file in messages (its path), default `data set`
 * @throws {SyntaxError} on malformed JSON, naming the line (JSONL) or the file (JSON array)
 */
export function parseRecords(text: string, source = "data set"): RawRecord[] {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  if (body.trimStart().startsWith("[")) return parseArray(body, source);
  return parseLines(body, source);
}

function parseArray(text: string, source: string): RawRecord[] {
  let values: unknown[];
  try {
    values = JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Malformed JSON in ${source}: ${(e as Error).message}`);
  }
  return values.map((value, i) => ({ value, where: `index ${i} of ${source}` }));
}

function parseLines(text: string, source: string): RawRecord[] {
  const records: RawRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    try {
      records.push({ value: JSON.parse(lines[i]), where: `line ${i + 1} of ${source}` });
    } catch (e) {
      if (records.length === 0) rejectSingleObject(text, source);
      throw new SyntaxError(
        `Malformed JSON at line ${i + 1} of ${source}: ${(e as Error).message}`,
      );
    }
  }
  return records;
}

/** A pretty-printed single JSON value is neither a JSON array nor JSONL: say so plainly. */
function rejectSingleObject(text: string, source: string): void {
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch {
    return;
  }
  const kind = whole === null ? "null" : typeof whole === "object" ? "a JSON object" : typeof whole;
  throw new SyntaxError(`Data set ${source} must be a JSON array or JSON Lines, got ${kind}`);
}
