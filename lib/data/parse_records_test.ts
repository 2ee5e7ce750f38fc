import assert from "node:assert/strict";
import { parseRecords } from "./parse_records.ts";

Deno.test("parseRecords reads a JSON array and names records by index", () => {
  const records = parseRecords('[{"a": 1}, {"a": 2}]', "x.json");
  assert.deepEqual(records, [
    { value: { a: 1 }, where: "index 0 of x.json" },
    { value: { a: 2 }, where: "index 1 of x.json" },
  ]);
});

Deno.test("parseRecords reads JSONL, skipping blank lines and keeping line numbers", () => {
  const records = parseRecords('{"a": 1}\r\n\r\n  \n{"a": 2}\n', "x.jsonl");
  assert.deepEqual(records, [
    { value: { a: 1 }, where: "line 1 of x.jsonl" },
    { value: { a: 2 }, where: "line 4 of x.jsonl" },
  ]);
});

Deno.test("parseRecords ignores a byte order mark", () => {
  assert.deepEqual(parseRecords('\uFEFF[{"a": 1}]').map((r) => r.value), [{ a: 1 }]);
  assert.deepEqual(parseRecords('\uFEFF{"a": 1}').map((r) => r.value), [{ a: 1 }]);
});

Deno.test("parseRecords names the line of malformed JSONL", () => {
  assert.throws(
    () => parseRecords('{"a": 1}\n{"a": 2}\n{"a": }\n', "x.jsonl"),
    (e: Error) =>
      e instanceof SyntaxError && e.message.startsWith("Malformed JSON at line 3 of x.jsonl: "),
  );
});

Deno.test("parseRecords names the file of a malformed JSON array", () => {
  assert.throws(
    () => parseRecords('[{"a": 1},\n {"a": 2,}]', "x.json"),
    /^SyntaxError: Malformed JSON in x\.json: /,
  );
});

Deno.test("parseRecords rejects a pretty-printed single object plainly", () => {
  assert.throws(
    () => parseRecords('{\n  "a": 1\n}\n', "x.json"),
    /Data set x\.json must be a JSON array or JSON Lines, got a JSON object/,
  );
});
