/**
 * The plain-text prompt format users already train and prompt with:
 * `Human: {instruction}\nAssistant: {output}` for training, `Human: {prompt}\nAssistant:` for
 * generation. Templates are strings with `{name}` placeholders.
 *
 * @module
 */

/**
 * The default generation prompt; `{prompt}` is the user's text.
 *
 * @example
 * ```ts
 * formatPrompt("你好", DEFAULT_PROMPT_TEMPLATE); // "Human: 你好\nAssistant:"
 * ```
 */
export const DEFAULT_PROMPT_TEMPLATE = "Human: {prompt}\nAssistant:";

/**
 * The default training text; `{instruction}` and `{output}` come from the record.
 *
 * @example
 * ```ts
 * DEFAULT_TRAINING_TEMPLATE.replace("{instruction}", "1+1?").replace("{output}", "2");
 * // "Human: 1+1?\nAssistant: 2"
 * ```
 */
export const DEFAULT_TRAINING_TEMPLATE = "Human: {instruction}\nAssistant: {output}";

/** One instruction-tuning record (alpaca / ruozhiba style). */
export interface InstructionRecord {
  /** The task or question. */
  instruction: string;
  /** Optional context, appended to the instruction on a new line when non-empty. */
  input?: string;
  /** The answer to learn. */
  output: string;
}

/** A training text split where the answer begins; `prompt + completion` is the whole text. */
export interface FormattedRecord {
  /** Everything before the answer (masked from the loss with `train_on: "completion"`). */
  prompt: string;
  /** The answer, with the spaces that precede it in the template and anything after it. */
  completion: string;
}

/** Replaces each `{name}` that is a key of `values` in one pass; values are never rescanned. */
function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** Throws unless `template` holds `placeholder` exactly once. */
function requireOnce(template: string, placeholder: string, what: string): void {
  if (template.split(placeholder).length !== 2) {
    throw new Error(
      `${what} must contain ${placeholder} exactly once, got ${JSON.stringify(template)}`,
    );
  }
}

/** Throws unless `record[key]` is a string (or absent, when `optional`). */
function requireString(
  record: InstructionRecord,
  key: keyof InstructionRecord,
  optional = false,
): void {
  const value = record?.[key];
  if (!(typeof value === "string" || (optional && value === undefined))) {
    throw new TypeError(
      `Instruction record field "${key}" must be a string, got ${JSON.stringify(value)}`,
    );
  }
}

/**
 * The instruction text of a record: `instruction`, plus `\n{input}` when `input` is non-empty.
 *
 * @example
 * ```ts
 * instructionText({ instruction: "Translate", input: "你好", output: "Hello" }); // "Translate\n你好"
 * ```
 */
export function instructionText(record: InstructionRecord): string {
  requireString(record, "instruction");
  requireString(record, "input", true);
  return record.input ? `${record.instruction}\n${record.input}` : record.instruction;
}

/**
 * Formats a generation prompt.
 *
 * @example
 * ```ts
 * formatPrompt("为什么天是蓝的？"); // "Human: 为什么天是蓝的？\nAssistant:"
 * ```
 */
export function formatPrompt(prompt: string, template: string = DEFAULT_PROMPT_TEMPLATE): string {
  if (typeof prompt !== "string") {
    throw new TypeError(`Prompt must be a string, got ${JSON.stringify(prompt)}`);
  }
  requireOnce(template, "{prompt}", "Prompt template");
  return fill(template, { prompt });
}

/**
 * Formats a training record as prompt and completion. The split falls before the spaces that
 * precede `{output}`, so the prompt part matches {@linkcode formatPrompt}'s output for the
 * default templates and tokenizes to a prefix of the whole text (byte-level BPE attaches a
 * space to the word after it).
 *
 * @example
 * ```ts
 * formatTrainingRecord({ instruction: "1+1?", output: "2" });
 * // { prompt: "Human: 1+1?\nAssistant:", completion: " 2" }
 * ```
 */
export function formatTrainingRecord(
  record: InstructionRecord,
  template: string = DEFAULT_TRAINING_TEMPLATE,
): FormattedRecord {
  requireOnce(template, "{instruction}", "Training template");
  requireOnce(template, "{output}", "Training template");
  const outputAt = template.indexOf("{output}");
  if (template.indexOf("{instruction}") > outputAt) {
    throw new Error(
      `Training template must put {instruction} before {output}, got ${JSON.stringify(template)}`,
    );
  }
  requireString(record, "output");
  const splitAt = template.slice(0, outputAt).replace(/ +$/, "").length;
  const values = { instruction: instructionText(record), output: record.output };
  return {
    prompt: fill(template.slice(0, splitAt), values),
    completion: fill(template.slice(splitAt), values),
  };
}
