import assert from "node:assert/strict";
import { IGNORE, packBatch } from "./batch.ts";

const X = IGNORE;

Deno.test("packBatch shifts labels left, right-pads with padId and ignores padding", () => {
  const batch = packBatch([
    { inputIds: [1, 10, 11, 12, 2], labels: [X, X, 11, 12, 2] },
    { inputIds: [1, 20, 2], labels: [1, 20, 2] },
  ], 0);
  assert.equal(batch.batchSize, 2);
  assert.equal(batch.seqLen, 5);
  assert.deepEqual([...batch.ids], [1, 10, 11, 12, 2, 1, 20, 2, 0, 0]);
  // Row t predicts labels[t + 1]; the last real token and the padding predict nothing.
  assert.deepEqual([...batch.targets], [X, 11, 12, 2, X, 20, 2, X, X, X]);
  assert.equal(batch.labelTokens, 3 + 2);
  assert.equal(batch.tokens, 5 + 3);
});

Deno.test("packBatch pads to a given seqLen", () => {
  const batch = packBatch([{ inputIds: [1, 5, 2], labels: [1, 5, 2] }], 7, 4);
  assert.equal(batch.seqLen, 4);
  assert.deepEqual([...batch.ids], [1, 5, 2, 7]);
  assert.deepEqual([...batch.targets], [5, 2, X, X]);
  assert.equal(batch.labelTokens, 2);
});

Deno.test("packBatch refuses an empty batch, mismatched labels and too-long examples", () => {
  assert.throws(() => packBatch([], 0), /Batch is empty/);
  assert.throws(
    () =>
      packBatch([{ inputIds: [1, 2], labels: [X, 2] }, { inputIds: [1, 2, 3], labels: [1, 2] }], 0),
    /Example 1 has 3 ids but 2 labels/,
  );
  assert.throws(
    () => packBatch([{ inputIds: [1, 2, 3], labels: [1, 2, 3] }], 0, 2),
    /Example 0 has 3 tokens, more than 2/,
  );
});
