import assert from "node:assert/strict";
import { fixtureTokenizer } from "../fixtures/fixture_tokenizer.ts";
import { TextTokenizer } from "../text/tokenizer.ts";
import { IGNORE } from "./batch.ts";
import { tokenizeExamples } from "./tokenize_examples.ts";

const files = fixtureTokenizer("small");
const tokenizer = TextTokenizer.fromJson(files.json, files.config);
const BOS = files.bosTokenId, EOS = files.eosTokenId;
const prompt = "Human: What is the capital of France?\nAssistant:";
const completion = " Paris is the capital.";
const promptIds = tokenizer.encode(prompt); // BOS first
const wholeIds = tokenizer.encode(prompt + completion);

Deno.test("completion training masks the prompt, starts with one BOS and appends EOS", () => {
  const { examples, report } = tokenizeExamples(tokenizer, [{ prompt, completion }]);
  const [{ inputIds, labels }] = examples;
  assert.deepEqual(inputIds, [...wholeIds, EOS]);
  assert.equal(inputIds[0], BOS);
  assert.notEqual(inputIds[1], BOS);
  assert.equal(inputIds.filter((id) => id === EOS).length, 1);
  const P = promptIds.length;
  assert.deepEqual(labels.slice(0, P), new Array(P).fill(IGNORE));
  assert.deepEqual(labels.slice(P), inputIds.slice(P));
  assert.deepEqual(report, {
    kept: 1,
    truncated: 0,
    droppedNoLabels: 0,
    labelTokens: inputIds.length - P,
  });
});

Deno.test("trainOn all and text examples train on every token after BOS", () => {
  const all = tokenizeExamples(tokenizer, [{ prompt, completion }], { trainOn: "all" }).examples[0];
  assert.deepEqual(all.labels, all.inputIds);
  const text = tokenizeExamples(tokenizer, [{ text: prompt + completion }]).examples[0];
  assert.deepEqual(text.inputIds, [...wholeIds, EOS]);
  assert.deepEqual(text.labels, text.inputIds);
});

Deno.test("a text that already starts with the BOS token's text keeps a single BOS", () => {
  const { examples } = tokenizeExamples(tokenizer, [{ text: "<|begin_of_text|>Hello world" }]);
  assert.equal(examples[0].inputIds[0], BOS);
  assert.notEqual(examples[0].inputIds[1], BOS);
});

Deno.test("records longer than maxLength are cut at maxLength, EOS included, and counted", () => {
  const maxLength = promptIds.length + 2;
  const { examples, report } = tokenizeExamples(tokenizer, [{ prompt, completion }], { maxLength });
  const [{ inputIds, labels }] = examples;
  assert.deepEqual(inputIds, wholeIds.slice(0, maxLength)); // the end, EOS too, is dropped
  assert.equal(labels.length, maxLength);
  assert.equal(report.truncated, 1);
  assert.equal(report.labelTokens, 2);
});

Deno.test("an example whose prompt fills maxLength is dropped and counted", () => {
  const { examples, report } = tokenizeExamples(tokenizer, [
    { prompt, completion },
    { prompt: "Q:", completion: " ok" },
  ], { maxLength: promptIds.length });
  assert.equal(examples.length, 1);
  assert.equal(examples[0].inputIds.at(-1), EOS, "the short example is kept whole");
  assert.deepEqual(report, {
    kept: 1,
    truncated: 0,
    droppedNoLabels: 1,
    labelTokens: report.labelTokens,
  });
});

Deno.test("nothing trainable, empty data and bad options give clear errors", () => {
  assert.throws(
    () => tokenizeExamples(tokenizer, [{ prompt, completion }], { maxLength: promptIds.length }),
    /No trainable examples: all 1 prompts fill maxLength 12/,
  );
  assert.throws(
    () => tokenizeExamples(tokenizer, []),
    /No training examples: the data set is empty/,
  );
  assert.throws(
    () => tokenizeExamples(tokenizer, [{ prompt, completion }], { maxLength: 1 }),
    /maxLength 1 must be an integer of at least 2/,
  );
  assert.throws(
    () => tokenizeExamples(tokenizer, [{ prompt, completion }], { trainOn: "prompt" as "all" }),
    /Unknown trainOn "prompt": expected completion or all/,
  );
});
