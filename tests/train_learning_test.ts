/**
 * Training learns: the tiny fixture (bf16, with a tokenizer learned from the data so that
 * each word is a token or two) trained on a dozen short question/answer records lowers its
 * loss steadily, and greedy generation afterwards gives the trained answers to the trained
 * questions — distinct answers, so the adapter has learned to read the question.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadDataset } from "../lib/data/load_dataset.ts";
import { byteLevelTokenizer } from "../lib/fixtures/fixture_tokenizer.ts";
import { formatTrainingRecord } from "../lib/text/prompt_template.ts";
import { tokenizeExamples } from "../lib/train/tokenize_examples.ts";
import { trainLora } from "../lib/train/train_lora.ts";
import { gpuTest } from "./_gpu.ts";
import { loadFixture } from "./_lora_fixture.ts";

const QA = [
  ["sky?", "blue"],
  ["grass?", "green"],
  ["snow?", "white"],
  ["coal?", "black"],
  ["sun?", "yellow"],
  ["blood?", "red"],
  ["sea?", "salt"],
  ["bee?", "honey"],
  ["cow?", "milk"],
  ["cat?", "meow"],
  ["dog?", "bark"],
  ["owl?", "night"],
];
const records = QA.map(([instruction, output]) => ({ instruction, output }));

gpuTest("training on a dozen records lowers the loss and teaches the answers", async (gpu) => {
  const text = records.map((r) => {
    const { prompt, completion } = formatTrainingRecord(r);
    return `${prompt}${completion}\n`;
  }).join("");
  const { model } = await loadFixture(gpu, {
    dtype: "BF16",
    seed: 3,
    embeddingStd: 0.1, // lets the tied head reach confident predictions
    tokenizer: byteLevelTokenizer(text, 340),
  });
  const data = loadDataset(JSON.stringify(records));
  const { examples } = tokenizeExamples(model.tokenizer, data.train);
  assert.equal(examples.length, 12);
  const run = trainLora(model, examples, {
    lora: { r: 16, alpha: 32, dropout: 0, targetModules: "all-linear" },
    maxSteps: 60,
    batchSize: 12, // every record in every step: the same batch each time learns fastest
    gradAccum: 1,
    lr: 1e-2,
    scheduler: "constant",
    seed: 1,
  });
  const losses: number[] = [];
  let next = await run.next();
  while (!next.done) {
    losses.push(next.value.loss!); // every step is logged (logEvery 1)
    next = await run.next();
  }
  const result = next.value;
  assert.deepEqual(result.losses, losses.map((loss, i) => ({ step: i + 1, loss })));
  assert.equal(losses.length, 60);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(losses.slice(0, 5)), last = mean(losses.slice(-5));
  assert.ok(last < 0.4 * first, `loss fell from ${first} to ${last}`);
  for (let i = 10; i <= 60; i += 10) {
    assert.ok(
      mean(losses.slice(i - 5, i)) < mean(losses.slice(i - 10, i - 5)),
      `loss falls by step ${i}`,
    );
  }

  model.addAdapter("trained", result.adapter);
  const answers: string[] = [];
  for (const [question] of QA) {
    const { text } = await model.generate(question, {
      adapter: "trained",
      temperature: 0,
      maxTokens: 6,
    });
    answers.push(text.trim());
  }
  const right = QA.filter(([, answer], i) => answers[i] === answer);
  assert.ok(
    right.length >= 9,
    `trained answers reproduced for ${right.length} of 12: ${answers.join(", ")}`,
  );
  assert.ok(new Set(right.map(([, a]) => a)).size >= 8, "the answers depend on the question");
  const base = await model.generate(QA[0][0], { temperature: 0, maxTokens: 6 });
  assert.notEqual(base.text.trim(), QA[0][1], "the base model does not know the answer");
  model.dispose();
});
