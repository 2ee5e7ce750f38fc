import assert from "node:assert/strict";
import { cleanRecords, formatCleanReport, type LocatedRecord } from "./clean.ts";
import type { DatasetRecord } from "./formats.ts";

const qa = (instruction: string, output: string): DatasetRecord => ({
  format: "alpaca",
  instruction,
  input: "",
  output,
  system: "",
});
const located = (...records: DatasetRecord[]): LocatedRecord[] =>
  records.map((record, i) => ({ where: `index ${i}`, record }));

Deno.test("cleanRecords normalises whitespace in every field", () => {
  const { records } = cleanRecords(located(
    { format: "alpaca", instruction: " q\r\n", input: "x\u3000y", output: "a  ", system: " s" },
    {
      format: "chat",
      messages: [{ role: "user", content: " u " }, { role: "assistant", content: "a\n\n\n\nb" }],
    },
  ));
  assert.deepEqual(records.map((r) => r.record), [
    { format: "alpaca", instruction: "q", input: "x y", output: "a", system: "s" },
    {
      format: "chat",
      messages: [{ role: "user", content: "u" }, { role: "assistant", content: "a\n\nb" }],
    },
  ]);
});

Deno.test("cleanRecords keeps whitespace when told to", () => {
  const { records, report } = cleanRecords(located(qa(" q", "a"), qa("q", "a")), {
    normalizeWhitespace: false,
  });
  assert.equal(records[0].record.format === "alpaca" && records[0].record.instruction, " q");
  assert.equal(report.dropped.duplicate, 0);
});

Deno.test("cleanRecords drops mojibake and control characters", () => {
  const { records, report } = cleanRecords(located(
    qa("q", "ok"),
    qa("q\uFFFD", "a"),
    { format: "text", text: "a\u0007b" },
    { format: "prompt_completion", prompt: "p", completion: "Ã\u0083Â©" },
  ));
  assert.deepEqual(records.map((r) => r.where), ["index 0"]);
  assert.equal(report.dropped.mojibake, 3);
  assert.deepEqual(report.details[0], {
    where: "index 1",
    reason: "mojibake",
    detail: "U+FFFD at offset 1",
  });
  const kept = cleanRecords(located(qa("q\uFFFD", "a")), { dropMojibake: false });
  assert.equal(kept.report.kept, 1);
});

Deno.test("cleanRecords drops records whose question or answer is blank", () => {
  const { records, report } = cleanRecords(located(
    qa("q", " \n "),
    qa("", "a"),
    { format: "text", text: "\u200B" },
    {
      format: "chat",
      messages: [{ role: "user", content: "" }, { role: "assistant", content: "a" }],
    },
    {
      format: "chat",
      messages: [{ role: "system", content: "" }, { role: "user", content: "q" }, {
        role: "assistant",
        content: "a",
      }],
    },
    qa("q", "a"),
  ));
  assert.deepEqual(records.map((r) => r.where), ["index 4", "index 5"]);
  assert.equal(report.dropped.empty, 4);
  assert.equal(cleanRecords(located(qa("q", "")), { dropEmpty: false }).report.kept, 1);
});

Deno.test("cleanRecords drops records shorter than minLength, counting code points", () => {
  const records = located(
    { format: "text", text: "一二三四" }, // 4 code points, 12 UTF-8 bytes
    { format: "text", text: "一二三四五" },
    qa("ab", "c😀"), // 2 + 2 code points
  );
  assert.equal(cleanRecords(records).report.kept, 3); // off by default
  const { report } = cleanRecords(records, { minLength: 5 });
  assert.equal(report.dropped.too_short, 2);
  assert.deepEqual(report.details.map((d) => [d.where, d.detail]), [
    ["index 0", "4 characters, minimum 5"],
    ["index 2", "4 characters, minimum 5"],
  ]);
  assert.throws(
    () => cleanRecords(records, { minLength: -1 }),
    /minLength must be at least 0, got -1/,
  );
});

Deno.test("cleanRecords drops exact duplicates after normalisation, keeping the first", () => {
  const { records, report } = cleanRecords(located(
    qa("q", "a"),
    qa("q", "b"),
    qa(" q ", "a\r\n"),
    { format: "prompt_completion", prompt: "q", completion: "a" },
  ));
  assert.deepEqual(records.map((r) => r.where), ["index 0", "index 1", "index 3"]);
  assert.deepEqual(report.details, [
    { where: "index 2", reason: "duplicate", detail: "duplicate of index 0" },
  ]);
  assert.equal(
    cleanRecords(located(qa("q", "a"), qa("q", "a")), { dropDuplicates: false }).report.kept,
    2,
  );
});

Deno.test("cleanRecords counts each record once, under its first failing rule", () => {
  const { report } = cleanRecords(located(qa("q", "a"), qa("q", "a"), qa("", "\uFFFD")), {
    minLength: 3,
  });
  assert.deepEqual(report.dropped, { mojibake: 1, empty: 0, too_short: 2, duplicate: 0 });
  assert.equal(report.total, 3);
  assert.equal(report.kept, 0);
});

Deno.test("formatCleanReport lists only the reasons that dropped something", () => {
  const { report } = cleanRecords(located(qa("q", "a"), qa("q", "a"), qa("q", ""), qa("x", "y")));
  assert.equal(formatCleanReport(report), "Kept 2 of 4 records (dropped: 1 empty, 1 duplicate)");
  assert.equal(
    formatCleanReport(cleanRecords(located(qa("q", "a"))).report),
    "Kept 1 of 1 records",
  );
});
