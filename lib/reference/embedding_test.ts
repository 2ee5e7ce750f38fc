import assert from "node:assert/strict";
import { embeddingForward } from "./embedding.ts";

Deno.test("embeddingForward gathers rows by token id", () => {
  const table = new Float32Array([0, 1, 10, 11, 20, 21]); // (3, 2)
  const x = embeddingForward(table, [2, 0, 2], 3, 2);
  assert.ok(x instanceof Float32Array);
  assert.deepEqual(Array.from(x), [20, 21, 0, 1, 20, 21]);
});

Deno.test("embeddingForward rejects ids outside the vocabulary and a wrong table", () => {
  const table = new Float32Array(6);
  assert.throws(() => embeddingForward(table, [0, 3], 3, 2), /Token id 3 at index 1/);
  assert.throws(() => embeddingForward(table, [-1], 3, 2), /Token id -1 at index 0/);
  assert.throws(() => embeddingForward(table, [1.5], 3, 2), /Token id 1.5/);
  assert.throws(() => embeddingForward(table, [0], 4, 2), /embedding table \(V, D\) has 6/);
});
