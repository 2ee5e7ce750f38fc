import assert from "node:assert/strict";
import {
  DEFAULT_PROMPT_TEMPLATE,
  DEFAULT_TRAINING_TEMPLATE,
  formatPrompt,
  formatTrainingRecord,
  instructionText,
} from "./prompt_template.ts";
import { TextTokenizer } from "./tokenizer.ts";
import { fixtureTokenizer } from "../fixtures/fixture_tokenizer.ts";

Deno.test("formatPrompt fills the Human/Assistant template", () => {
  assert.equal(DEFAULT_PROMPT_TEMPLATE, "Human: {prompt}\nAssistant:");
  assert.equal(formatPrompt("为什么天是蓝的？"), "Human: 为什么天是蓝的？\nAssistant:");
  // Braces in the user's text are kept verbatim, never treated as placeholders.
  assert.equal(formatPrompt("say {prompt}"), "Human: say {prompt}\nAssistant:");
  assert.equal(formatPrompt("x", "<s>[INST] {prompt} [/INST]"), "<s>[INST] x [/INST]");
  assert.throws(() => formatPrompt("x", "no placeholder"), /must contain \{prompt\} exactly once/);
  assert.throws(() => formatPrompt(3 as never), /Prompt must be a string, got 3/);
});

Deno.test("formatTrainingRecord splits before the answer and matches formatPrompt", () => {
  assert.equal(DEFAULT_TRAINING_TEMPLATE, "Human: {instruction}\nAssistant: {output}");
  const record = { instruction: "只剩一个心脏了还能活吗？", output: "能，人本来就只有一个心脏。" };
  const { prompt, completion } = formatTrainingRecord(record);
  assert.equal(prompt, "Human: 只剩一个心脏了还能活吗？\nAssistant:");
  assert.equal(completion, " 能，人本来就只有一个心脏。");
  assert.equal(
    prompt + completion,
    "Human: 只剩一个心脏了还能活吗？\nAssistant: 能，人本来就只有一个心脏。",
  );
  assert.equal(prompt, formatPrompt(record.instruction));
});

Deno.test("formatTrainingRecord appends a non-empty input like alpaca", () => {
  const withInput = { instruction: "Translate to English", input: "你好", output: "Hello" };
  assert.equal(instructionText(withInput), "Translate to English\n你好");
  assert.equal(
    formatTrainingRecord(withInput).prompt,
    "Human: Translate to English\n你好\nAssistant:",
  );
  assert.equal(instructionText({ instruction: "Hi", input: "", output: "x" }), "Hi");
});

Deno.test("formatTrainingRecord keeps newlines and suffixes with custom templates", () => {
  const alpaca = "### Instruction:\n{instruction}\n\n### Response:\n{output}</s>";
  assert.deepEqual(formatTrainingRecord({ instruction: "a", output: "b" }, alpaca), {
    prompt: "### Instruction:\na\n\n### Response:\n",
    completion: "b</s>",
  });
  assert.deepEqual(
    formatTrainingRecord({ instruction: "a", output: "b" }, "Q {instruction}  A  {output}"),
    {
      prompt: "Q a  A",
      completion: "  b",
    },
  );
});

Deno.test("formatTrainingRecord rejects malformed records and templates", () => {
  const ok = { instruction: "a", output: "b" };
  assert.throws(
    () => formatTrainingRecord(ok, "{output} {instruction}"),
    /\{instruction\} before \{output\}/,
  );
  assert.throws(
    () => formatTrainingRecord(ok, "{instruction}"),
    /must contain \{output\} exactly once/,
  );
  assert.throws(
    () => formatTrainingRecord(ok, "{instruction}{output}{output}"),
    /must contain \{output\} exactly once/,
  );
  assert.throws(
    () => formatTrainingRecord({ instruction: "a" } as never),
    /field "output" must be a string, got undefined/,
  );
  assert.throws(
    () => formatTrainingRecord({ instruction: 1, output: "b" } as never),
    /field "instruction" must be a string, got 1/,
  );
  assert.throws(
    () => formatTrainingRecord({ instruction: "a", input: null, output: "b" } as never),
    /field "input" must be a string, got null/,
  );
});

Deno.test("formatTrainingRecord prompt tokens are a prefix of the whole text's tokens", () => {
  const { json, config } = fixtureTokenizer("llama3");
  const tok = TextTokenizer.fromJson(json, config);
  const records = [
    { instruction: "只剩一个心脏了还能活吗？", output: "能，人本来就只有一个心脏。" },
    { instruction: "2+2?", output: "4" },
    { instruction: "Name a fruit", input: "red", output: "Apple" },
  ];
  for (const record of records) {
    const { prompt, completion } = formatTrainingRecord(record);
    const promptIds = tok.encode(prompt);
    const allIds = tok.encode(prompt + completion);
    assert.deepEqual(allIds.slice(0, promptIds.length), promptIds, prompt);
    assert.ok(allIds.length > promptIds.length);
    assert.equal(tok.decode(allIds.slice(promptIds.length)), completion);
  }
});
