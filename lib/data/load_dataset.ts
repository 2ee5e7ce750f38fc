/**
 * The whole data pipeline for a data set's text: parse, detect or check the format, validate,
 * clean, convert to training examples, and split off a validation set.
 *
 * @module
 */

import type { ChatTemplateKwargs } from "../text/chat_template_kwargs.ts";
import { type CleanOptions, cleanRecords, type CleanReport } from "./clean.ts";
import { DATASET_FORMATS, type DatasetFormat, detectFormat, parseRecord } from "./formats.ts";
import { parseRecords } from "./parse_records.ts";
import { splitDataset } from "./split.ts";
import { type RenderChat, toExample, type TrainingExample } from "./to_example.ts";

/** Options of {@linkcode loadDataset}. Cleaning options are described in `clean.ts`. */
export interface LoadDatasetOptions extends CleanOptions {
  /** The record format; `auto` (the default) detects it from the first record. */
  format?: DatasetFormat | "auto";
  /** The file's name, for messages. */
  source?: string;
  /** The model's chat template; required for chat records. */
  renderChat?: RenderChat;
  /** Variables of the chat template, e.g. `{ enable_thinking: false }` for Qwen3. */
  chatTemplateKwargs?: ChatTemplateKwargs;
  /** The training template of alpaca records (see `prompt_template.ts`). */
  template?: string;
  /** Validation split: a fraction below 1 or a whole count. Default 0 (none). */
  validation?: number;
  /** Seed of the shuffle that picks the validation records. Default 0. */
  seed?: number;
}

/** A loaded data set. */
export interface Dataset {
  /** The record format found or forced. */
  format: DatasetFormat;
  /** Examples to train on, in file order. */
  train: TrainingExample[];
  /** Held-out examples, in file order. */
  validation: TrainingExample[];
  /** What cleaning dropped, and why. */
  report: CleanReport;
}

/**
 * Loads a data set from the text of a JSON array or JSONL file.
 *
 * @example
 * ```ts
 * const data = loadDataset('[{"instruction": "你好", "output": "你好！"}]');
 * // data.format === "alpaca"
 * // data.train[0] is { prompt: "Human: 你好\nAssistant:", completion: " 你好！" }
 * ```
 *
 * @throws {SyntaxError} on malformed JSON, naming the line or file
 * @throws {TypeError} on a malformed record, naming its line or index and what is wrong
 */
export function loadDataset(text: string, options: LoadDatasetOptions = {}): Dataset {
  const source = options.source ?? "data set";
  const raw = parseRecords(text, source);
  if (raw.length === 0) throw new RangeError(`Data set ${source} has no records`);
  const forced = options.format ?? "auto";
  if (forced !== "auto" && !DATASET_FORMATS.includes(forced)) {
    throw new TypeError(
      `Unknown data set format ${JSON.stringify(forced)}: expected auto or ${
        DATASET_FORMATS.join(", ")
      }`,
    );
  }
  const format = forced === "auto" ? detectFormat(raw[0].value, raw[0].where) : forced;
  const records = raw.map(({ value, where }) => ({
    where,
    record: parseRecord(value, format, where),
  }));
  const cleaned = cleanRecords(records, options);
  if (cleaned.records.length === 0) {
    throw new RangeError(`Data set ${source} has no records left after cleaning`);
  }
  const examples = cleaned.records.map(({ where, record }) =>
    toExample(record, where, options.renderChat, options.template, options.chatTemplateKwargs)
  );
  const { train, validation } = splitDataset(examples, options.validation ?? 0, options.seed);
  return { format, train, validation, report: cleaned.report };
}
