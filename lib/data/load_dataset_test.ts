import assert from "node:assert/strict";
import { loadDataset } from "./load_dataset.ts";
import { loadDatasetFile } from "./read_dataset_file.ts";
import { fixtureTokenizer } from "../fixtures/fixture_tokenizer.ts";
import { TextTokenizer } from "../text/tokenizer.ts";

const renderChat = (m: { role: string; content: string }[], o: { addGenerationPrompt?: boolean }) =>
  m.map((x) => `<${x.role}>${x.content}`).join("") + (o.addGenerationPrompt ? "<assistant>" : "");

Deno.test("loadDataset detects each format in JSON arrays and JSONL", () => {
  const cases = [
    ['[{"instruction": "q", "output": "a"}]', "alpaca", {
      prompt: "Human: q\nAssistant:",
      completion: " a",
    }],
    ['{"prompt": "p", "completion": "c"}', "prompt_completion", { prompt: "p", completion: "c" }],
    [
      '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n',
      "chat",
      {
        prompt: "<user>q<assistant>",
        completion: "a",
      },
    ],
    ['[{"text": "hello"}]', "text", { text: "hello" }],
  ] as const;
  for (const [text, format, example] of cases) {
    const data = loadDataset(text, { renderChat });
    assert.equal(data.format, format);
    assert.deepEqual(data.train, [example]);
    assert.deepEqual(data.validation, []);
  }
});

Deno.test("loadDataset reports the line of a record that does not match the detected format", () => {
  const text = '{"instruction": "q", "output": "a"}\n{"instruction": "q2"}\n';
  assert.throws(
    () => loadDataset(text, { source: "d.jsonl" }),
    /^TypeError: Malformed alpaca record at line 2 of d\.jsonl: output: /,
  );
});

Deno.test("loadDataset can force a format, and rejects unknown ones", () => {
  const text = '[{"prompt": "p", "completion": "c", "text": "t"}]';
  assert.deepEqual(loadDataset(text).train, [{ prompt: "p", completion: "c" }]);
  assert.deepEqual(loadDataset(text, { format: "text" }).train, [{ text: "t" }]);
  assert.throws(
    () => loadDataset(text, { format: "alpaca" }),
    /Malformed alpaca record at index 0 of data set: instruction: /,
  );
  const fromCommandLine = "sharegpt" as "auto"; // an unchecked string, as a command line gives
  assert.throws(
    () => loadDataset(text, { format: fromCommandLine }),
    /Unknown data set format "sharegpt"/,
  );
});

Deno.test("loadDataset cleans, reports and splits", () => {
  const records = Array.from({ length: 10 }, (_, i) => ({ instruction: `q${i}`, output: `a${i}` }));
  records.push({ instruction: "q0", output: "a0" }, { instruction: "bad\uFFFD", output: "x" });
  const data = loadDataset(JSON.stringify(records), { validation: 2, seed: 3 });
  assert.deepEqual(data.report.dropped, { mojibake: 1, empty: 0, too_short: 0, duplicate: 1 });
  assert.equal(data.train.length, 8);
  assert.equal(data.validation.length, 2);
});

Deno.test("loadDataset rejects empty input and data sets that cleaning empties", () => {
  assert.throws(() => loadDataset("[]", { source: "e.json" }), /Data set e\.json has no records/);
  assert.throws(
    () => loadDataset("\n\n", { source: "e.jsonl" }),
    /Data set e\.jsonl has no records/,
  );
  assert.throws(
    () => loadDataset('[{"text": " "}]', { source: "e.json" }),
    /no records left after cleaning/,
  );
});

Deno.test("the sample data set loads as clean alpaca records of short answers", async () => {
  const data = await loadDatasetFile(
    new URL("../../examples/data/ruozhiba_sample.json", import.meta.url).pathname,
  );
  assert.equal(data.format, "alpaca");
  assert.equal(data.report.kept, data.report.total);
  assert.ok(data.train.length >= 45 && data.train.length <= 60, `${data.train.length} records`);
  for (const ex of data.train) {
    assert.ok("completion" in ex && [...ex.completion].length <= 60, JSON.stringify(ex));
    assert.match(ex.prompt, /^Human: .+\nAssistant:$/);
    assert.match(ex.completion, /\p{Script=Han}/u);
  }
});

Deno.test("loadDatasetFile names a missing file", async () => {
  await assert.rejects(
    () => loadDatasetFile("/nonexistent/d.json"),
    /Data set file \/nonexistent\/d\.json not found/,
  );
});

Deno.test("loadDataset renders chat records with a tokenizer's chat template", () => {
  const files = fixtureTokenizer("small");
  const tokenizer = TextTokenizer.fromJson(files.json, files.config);
  const messages = [
    { role: "system", content: "你是助手。" },
    { role: "user", content: "一吨棉花和一吨铁，哪个更重？" },
    { role: "assistant", content: "一样重。" },
  ] as const;
  const data = loadDataset(JSON.stringify({ messages }), {
    renderChat: (m, o) => tokenizer.applyChatTemplate(m, o),
  });
  const [example] = data.train;
  assert.ok("prompt" in example);
  assert.equal(example.prompt + example.completion, tokenizer.applyChatTemplate([...messages]));
  assert.equal(
    example.prompt,
    tokenizer.applyChatTemplate(messages.slice(0, 2), { addGenerationPrompt: true }),
  );
  assert.ok(example.completion.startsWith("一样重。"), JSON.stringify(example.completion));
  assert.ok(!example.prompt.includes("一样重"));
});
