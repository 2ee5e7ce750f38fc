/**
 * Cleaning of fine-tuning records, following the usual practice: normalise whitespace, drop
 * mojibake, drop empty and too-short records, drop exact duplicates, and report what was
 * dropped and why.
 *
 * @module
 */

import type { DatasetRecord } from "./formats.ts";
import { findMojibake } from "./mojibake.ts";
import { normalizeWhitespace } from "./normalize_whitespace.ts";

/** Cleaning rules; each can be turned off. */
export interface CleanOptions {
  /** Normalise whitespace in every text field (see `normalizeWhitespace`). Default true. */
  normalizeWhitespace?: boolean;
  /** Drop records containing U+FFFD or control characters other than tab and newline. Default true. */
  dropMojibake?: boolean;
  /** Drop records whose required text (question or answer, or the text) is blank. Default true. */
  dropEmpty?: boolean;
  /**
   * Drop records with fewer characters (code points, all text fields together) than this.
   * Default 0 (off): short answers are normal in Q&A data. For documents (`text` records) the
   * common advice is 100.
   */
  minLength?: number;
  /** Drop records identical to an earlier one (after whitespace normalisation). Default true. */
  dropDuplicates?: boolean;
}

/** Why a record was dropped. */
export type DropReason = "mojibake" | "empty" | "too_short" | "duplicate";

/** A record with its location in the file. */
export interface LocatedRecord {
  /** Where it came from, e.g. `line 3 of data.jsonl`. */
  where: string;
  /** The validated record. */
  record: DatasetRecord;
}

/** One dropped record. */
export interface DroppedRecord {
  /** Where it came from. */
  where: string;
  /** The first rule it failed. */
  reason: DropReason;
  /** What the rule found, e.g. `U+FFFD at offset 3` or `duplicate of index 0 of data.json`. */
  detail: string;
}

/** What cleaning did. */
export interface CleanReport {
  /** Records before cleaning. */
  total: number;
  /** Records kept. */
  kept: number;
  /** How many were dropped for each reason (each record counts once, under its first reason). */
  dropped: Record<DropReason, number>;
  /** Every dropped record, in file order. */
  details: DroppedRecord[];
}

/** The result of {@linkcode cleanRecords}. */
export interface CleanResult {
  /** The kept records, cleaned, in their original order. */
  records: LocatedRecord[];
  /** Counts and details of what was dropped. */
  report: CleanReport;
}

/**
 * Applies the cleaning rules in this order: whitespace, mojibake, empty, too short, duplicate.
 *
 * @example
 * ```ts
 * const { records, report } = cleanRecords([
 *   { where: "index 0", record: { format: "text", text: " hi " } },
 *   { where: "index 1", record: { format: "text", text: "hi" } },
 * ]);
 * // records[0].record.text === "hi", report.dropped.duplicate === 1
 * ```
 */
export function cleanRecords(records: LocatedRecord[], options: CleanOptions = {}): CleanResult {
  const minLength = options.minLength ?? 0;
  if (!(minLength >= 0)) throw new RangeError(`minLength must be at least 0, got ${minLength}`);
  const kept: LocatedRecord[] = [];
  const details: DroppedRecord[] = [];
  const firstSeen = new Map<string, string>();
  for (const { where, record: raw } of records) {
    const record = options.normalizeWhitespace === false ? raw : mapText(raw, normalizeWhitespace);
    const drop = (reason: DropReason, detail: string) => details.push({ where, reason, detail });
    const texts = allTexts(record);
    const bad = options.dropMojibake === false
      ? undefined
      : texts.map(findMojibake).find((found) => found !== undefined);
    if (bad !== undefined) {
      drop("mojibake", bad);
      continue;
    }
    if (options.dropEmpty !== false && requiredTexts(record).some((t) => t.trim() === "")) {
      drop("empty", "a required field is blank");
      continue;
    }
    const length = texts.reduce((sum, t) => sum + [...t].length, 0);
    if (length < minLength) {
      drop("too_short", `${length} characters, minimum ${minLength}`);
      continue;
    }
    if (options.dropDuplicates !== false) {
      const key = JSON.stringify(record);
      const original = firstSeen.get(key);
      if (original !== undefined) {
        drop("duplicate", `duplicate of ${original}`);
        continue;
      }
      firstSeen.set(key, where);
    }
    kept.push({ where, record });
  }
  const dropped: Record<DropReason, number> = { mojibake: 0, empty: 0, too_short: 0, duplicate: 0 };
  for (const d of details) dropped[d.reason]++;
  return { records: kept, report: { total: records.length, kept: kept.length, dropped, details } };
}

/**
 * Summarises a report in one line, e.g.
 * `Kept 48 of 52 records (dropped: 2 duplicate, 1 empty, 1 mojibake)`.
 *
 * @example
 * ```ts
 * const data = await loadDatasetFile("./ruozhiba_qa.json");
 * console.log(formatCleanReport(data.report));
 * ```
 */
export function formatCleanReport(report: CleanReport): string {
  const reasons = (Object.entries(report.dropped) as [DropReason, number][])
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${n} ${reason.replace("_", " ")}`);
  const tail = reasons.length === 0 ? "" : ` (dropped: ${reasons.join(", ")})`;
  return `Kept ${report.kept} of ${report.total} records${tail}`;
}

/** Applies `fn` to every text field of a record. */
function mapText(record: DatasetRecord, fn: (text: string) => string): DatasetRecord {
  switch (record.format) {
    case "alpaca":
      return {
        format: "alpaca",
        instruction: fn(record.instruction),
        input: fn(record.input),
        output: fn(record.output),
        system: fn(record.system),
      };
    case "prompt_completion":
      return {
        format: record.format,
        prompt: fn(record.prompt),
        completion: fn(record.completion),
      };
    case "chat":
      return {
        format: "chat",
        messages: record.messages.map((m) => ({ role: m.role, content: fn(m.content) })),
      };
    case "text":
      return { format: "text", text: fn(record.text) };
  }
}

/** Every text field of a record. */
function allTexts(record: DatasetRecord): string[] {
  switch (record.format) {
    case "alpaca":
      return [record.system, record.instruction, record.input, record.output];
    case "prompt_completion":
      return [record.prompt, record.completion];
    case "chat":
      return record.messages.map((m) => m.content);
    case "text":
      return [record.text];
  }
}

/** The fields that must not be blank: the question and the answer (every user and assistant
 * turn of a chat), or the text. */
function requiredTexts(record: DatasetRecord): string[] {
  switch (record.format) {
    case "alpaca":
      return [record.instruction, record.output];
    case "prompt_completion":
      return [record.prompt, record.completion];
    case "chat":
      return record.messages.filter((m) => m.role !== "system").map((m) => m.content);
    case "text":
      return [record.text];
  }
}
