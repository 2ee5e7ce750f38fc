/**
 * Tokenises training examples following DESIGN.md's conventions: ids are
 * `tokenizer.encode(text)` (the post-processor adds BOS) with EOS appended; labels ignore the
 * prompt (`trainOn: "completion"`) or nothing (`"all"`); records are truncated to `maxLength`.
 *
 * @module
 */
import { TRAINING_DEFAULTS } from "../defaults.ts";
import type { TrainingExample } from "../data/to_example.ts";
import { encodeText } from "../text/encode_text.ts";
import type { TextTokenizer } from "../text/tokenizer.ts";
import { IGNORE, type TokenizedExample } from "./batch.ts";

/** Options of {@linkcode tokenizeExamples}. */
export interface TokenizeOptions {
  /** Mask the prompt ("completion", default) or train on every token ("all"). */
  trainOn?: "completion" | "all";
  /** Longest record in tokens; longer ones are truncated (their end, EOS included, is cut). Default 512. */
  maxLength?: number;
}

/** What tokenisation did to the data. */
export interface TokenizeReport {
  /** Examples kept. */
  kept: number;
  /** Kept examples cut to `maxLength` (dropped ones are counted only as dropped). */
  truncated: number;
  /** Examples dropped because no label token survived truncation (the prompt alone was too long). */
  droppedNoLabels: number;
  /** Label tokens in all kept examples. */
  labelTokens: number;
}

/**
 * Tokenises examples into ids and labels; throws when nothing trainable is left.
 *
 * @example
 * ```ts
 * const { examples, report } = tokenizeExamples(model.tokenizer, dataset.train, { maxLength: 512 });
 * report.truncated; // records cut to 512 tokens
 * ```
 */
export function tokenizeExamples(
  tokenizer: TextTokenizer,
  examples: TrainingExample[],
  options: TokenizeOptions = {},
): { examples: TokenizedExample[]; report: TokenizeReport } {
  const trainOn = options.trainOn ?? TRAINING_DEFAULTS.trainOn;
  const maxLength = options.maxLength ?? TRAINING_DEFAULTS.maxLength;
  if (trainOn !== "completion" && trainOn !== "all") {
    throw new RangeError(`Unknown trainOn ${JSON.stringify(trainOn)}: expected completion or all`);
  }
  if (!Number.isInteger(maxLength) || maxLength < 2) {
    throw new RangeError(`maxLength ${maxLength} must be an integer of at least 2`);
  }
  if (examples.length === 0) throw new RangeError("No training examples: the data set is empty");
  const eos = tokenizer.eosIds[0];
  if (eos === undefined) throw new Error("Tokenizer has no EOS token to end training records");
  const report: TokenizeReport = { kept: 0, truncated: 0, droppedNoLabels: 0, labelTokens: 0 };
  const out: TokenizedExample[] = [];
  for (const example of examples) {
    const text = "text" in example ? example.text : example.prompt + example.completion;
    let inputIds = [...encodeText(tokenizer, text), eos];
    const masked = trainOn === "all" || "text" in example
      ? 0
      : commonPrefix(encodeText(tokenizer, example.prompt), inputIds);
    const truncated = inputIds.length > maxLength;
    if (truncated) inputIds = inputIds.slice(0, maxLength);
    const labels = inputIds.map((id, t) => (t < masked ? IGNORE : id));
    const trainable = labels.slice(1).filter((l) => l !== IGNORE).length;
    if (trainable === 0) {
      report.droppedNoLabels++;
      continue;
    }
    if (truncated) report.truncated++;
    report.kept++;
    report.labelTokens += trainable;
    out.push({ inputIds, labels });
  }
  if (out.length === 0) {
    throw new RangeError(
      `No trainable examples: all ${examples.length} prompts fill maxLength ${maxLength}`,
    );
  }
  return { examples: out, report };
}

/** Length of the longest common prefix (the prompt's tokens inside the whole text's). */
function commonPrefix(a: number[], b: number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}
