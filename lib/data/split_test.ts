import assert from "node:assert/strict";
import { splitDataset } from "./split.ts";

const items = Array.from({ length: 20 }, (_, i) => i);

Deno.test("splitDataset holds out a rounded fraction, keeping order and losing nothing", () => {
  const { train, validation } = splitDataset(items, 0.13, 1);
  assert.equal(validation.length, 3); // round(2.6)
  assert.equal(train.length, 17);
  assert.deepEqual([...train, ...validation].sort((a, b) => a - b), items);
  assert.deepEqual(train, [...train].sort((a, b) => a - b));
  assert.deepEqual(validation, [...validation].sort((a, b) => a - b));
});

Deno.test("splitDataset holds out a whole count, and at least one record for a tiny fraction", () => {
  assert.equal(splitDataset(items, 5).validation.length, 5);
  assert.equal(splitDataset(items, 1).validation.length, 1);
  assert.equal(splitDataset(items, 0.001).validation.length, 1);
  assert.deepEqual(splitDataset(items, 0), { train: items, validation: [] });
});

Deno.test("splitDataset is reproducible for a seed and differs across seeds", () => {
  assert.deepEqual(splitDataset(items, 5, 42), splitDataset(items, 5, 42));
  const picks = new Set(
    [1, 2, 3, 4].map((s) => JSON.stringify(splitDataset(items, 5, s).validation)),
  );
  assert.ok(picks.size > 1);
});

Deno.test("splitDataset picks every item with roughly equal chance", () => {
  const counts = new Array(items.length).fill(0);
  for (let seed = 0; seed < 400; seed++) {
    for (const v of splitDataset(items, 5, seed).validation) counts[v]++;
  }
  // Each item is expected 100 times (400 × 5 / 20); binomial sd ≈ 8.7.
  for (const c of counts) assert.ok(c > 60 && c < 140, `count ${c} out of range`);
});

Deno.test("splitDataset rejects bad sizes", () => {
  assert.throws(() => splitDataset(items, -0.1), /Validation split must be .* got -0\.1/);
  assert.throws(() => splitDataset(items, 2.5), /got 2\.5/);
  assert.throws(() => splitDataset(items, 20), /takes 20 of 20 records and leaves none/);
  assert.throws(() => splitDataset([1], 0.5), /takes 1 of 1 records/);
});
