import assert from "node:assert/strict";
import { checkSeed, MAX_SEED } from "./seed.ts";

Deno.test("seeds in [0, 2^32) pass; others are refused by name", () => {
  for (const seed of [0, 42, MAX_SEED]) checkSeed(seed);
  for (const seed of [-1, 0.5, 2 ** 32, 2 ** 40, NaN]) {
    assert.throws(
      () => checkSeed(seed, "Sampling seed"),
      /^RangeError: Sampling seed must be an integer in \[0, 2\^32\)/,
    );
  }
});
