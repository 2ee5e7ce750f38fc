/**
 * The record formats a data set may use, their schemas, and format detection.
 *
 * - `alpaca` (also ruozhiba): `instruction`, optional `input`, `output`, optional `system`
 * - `prompt_completion`: `prompt`, `completion`
 * - `chat`: `messages`, a list of `{ role, content }` ending with an assistant turn
 * - `text`: `text`, trained as a whole
 *
 * Extra fields are ignored; optional fields may be `null`.
 *
 * @module
 */

import { z } from "../deps.ts";
import type { ChatMessage } from "../text/tokenizer.ts";

export type { ChatMessage };

/**
 * The names of the record formats.
 *
 * @example
 * ```ts
 * loadDataset(text, { format: DATASET_FORMATS[0] }); // force "alpaca"
 * ```
 */
export const DATASET_FORMATS = ["alpaca", "prompt_completion", "chat", "text"] as const;

/** A record format name. */
export type DatasetFormat = typeof DATASET_FORMATS[number];

/** A validated record, tagged with its format. */
export type DatasetRecord =
  | { format: "alpaca"; instruction: string; input: string; output: string; system: string }
  | { format: "prompt_completion"; prompt: string; completion: string }
  | { format: "chat"; messages: ChatMessage[] }
  | { format: "text"; text: string };

const optionalText = z.string().nullish().transform((s) => s ?? "");

const SCHEMAS = {
  alpaca: z.object({
    instruction: z.string(),
    input: optionalText,
    output: z.string(),
    system: optionalText,
  }),
  prompt_completion: z.object({ prompt: z.string(), completion: z.string() }),
  chat: z.object({
    messages: z.array(
      z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() }),
    ).min(1).refine((m) => m.at(-1)?.role === "assistant", {
      message: "The last message must have role assistant",
    }),
  }),
  text: z.object({ text: z.string() }),
};

/**
 * Guesses a record's format from its keys: `messages` → chat, `instruction` → alpaca,
 * `prompt` and `completion` → prompt_completion, `text` → text.
 *
 * @param value one parsed record
 * @param where its location, for the message
 * @throws {TypeError} when no format matches
 */
export function detectFormat(value: unknown, where: string): DatasetFormat {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    if ("messages" in value) return "chat";
    if ("instruction" in value) return "alpaca";
    if ("prompt" in value && "completion" in value) return "prompt_completion";
    if ("text" in value) return "text";
  }
  const shown = typeof value === "object" && value !== null && !Array.isArray(value)
    ? `keys ${JSON.stringify(Object.keys(value))}`
    : JSON.stringify(value)?.slice(0, 60);
  throw new TypeError(
    `Cannot detect the format of the record at ${where} (${shown}): expected instruction/output ` +
      `(alpaca), prompt/completion, messages (chat) or text`,
  );
}

/**
 * Validates one record against a format's schema.
 *
 * @param value one parsed record
 * @param format the format it must have
 * @param where its location, for the message
 * @throws {TypeError} naming the location and every problem found
 */
export function parseRecord(value: unknown, format: DatasetFormat, where: string): DatasetRecord {
  const result = SCHEMAS[format].safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.map((p) => typeof p === "number" ? `[${p}]` : `.${String(p)}`)
        .join("").replace(/^\./, "");
      return path === "" ? issue.message : `${path}: ${issue.message}`;
    });
    throw new TypeError(`Malformed ${format} record at ${where}: ${problems.join("; ")}`);
  }
  return { format, ...result.data } as DatasetRecord;
}
