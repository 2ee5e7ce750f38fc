import assert from "node:assert/strict";
import { parseByteSize } from "./byte_size.ts";

Deno.test("sizes parse as transformers' max_shard_size: decimal and binary units", () => {
  assert.equal(parseByteSize("5GB"), 5e9);
  assert.equal(parseByteSize("200MB"), 2e8);
  assert.equal(parseByteSize("1.5kb"), 1500);
  assert.equal(parseByteSize("2GiB"), 2 * 2 ** 30);
  assert.equal(parseByteSize("4096"), 4096);
  for (const bad of ["", "0", "-1GB", "5XB", "GB", "1e9"]) {
    assert.throws(() => parseByteSize(bad), /is not a positive size/, bad);
  }
});
