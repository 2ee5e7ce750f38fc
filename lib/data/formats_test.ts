import assert from "node:assert/strict";
import { detectFormat, parseRecord } from "./formats.ts";

Deno.test("detectFormat recognises each format by its keys", () => {
  assert.equal(detectFormat({ instruction: "q", output: "a" }, "i"), "alpaca");
  assert.equal(detectFormat({ prompt: "q", completion: "a" }, "i"), "prompt_completion");
  assert.equal(detectFormat({ messages: [] }, "i"), "chat");
  assert.equal(detectFormat({ text: "t" }, "i"), "text");
});

Deno.test("detectFormat names the record and its keys when nothing matches", () => {
  assert.throws(
    () => detectFormat({ question: "q", answer: "a" }, "line 1 of x.jsonl"),
    /Cannot detect the format of the record at line 1 of x\.jsonl \(keys \["question","answer"\]\)/,
  );
  assert.throws(() => detectFormat("just a string", "index 0"), /at index 0 \("just a string"\)/);
  assert.throws(() => detectFormat(null, "index 0"), /at index 0 \(null\)/);
});

Deno.test("parseRecord fills absent or null optional alpaca fields with empty strings", () => {
  assert.deepEqual(
    parseRecord({ instruction: "q", input: null, output: "a", id: 7 }, "alpaca", "i"),
    { format: "alpaca", instruction: "q", input: "", output: "a", system: "" },
  );
});

Deno.test("parseRecord names the location, the field and the problem", () => {
  assert.throws(
    () => parseRecord({ instruction: "q", output: 3 }, "alpaca", "line 4 of x.jsonl"),
    (e: Error) =>
      e instanceof TypeError &&
      e.message ===
        "Malformed alpaca record at line 4 of x.jsonl: output: Invalid input: expected string, " +
          "received number",
  );
  assert.throws(
    () => parseRecord({ prompt: "q" }, "prompt_completion", "index 2 of x.json"),
    /^TypeError: Malformed prompt_completion record at index 2 of x\.json: completion: /,
  );
  assert.throws(
    () => parseRecord([1], "text", "index 0"),
    /at index 0: Invalid input: expected object/,
  );
});

Deno.test("parseRecord checks chat roles and that the last turn is the assistant's", () => {
  assert.throws(
    () => parseRecord({ messages: [{ role: "bot", content: "x" }] }, "chat", "index 1"),
    /at index 1: messages\[0\]\.role: /,
  );
  assert.throws(
    () => parseRecord({ messages: [{ role: "user", content: "x" }] }, "chat", "index 1"),
    /messages: The last message must have role assistant/,
  );
  assert.throws(() => parseRecord({ messages: [] }, "chat", "index 1"), /messages: /);
  const ok = parseRecord(
    {
      messages: [{ role: "user", content: "q" }, { role: "assistant", content: "a" }],
    },
    "chat",
    "index 1",
  );
  assert.equal(ok.format, "chat");
});
