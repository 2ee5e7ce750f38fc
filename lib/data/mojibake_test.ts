import assert from "node:assert/strict";
import { findMojibake } from "./mojibake.ts";

Deno.test("findMojibake finds replacement, C0, DEL and C1 characters", () => {
  assert.equal(findMojibake("caf\uFFFD"), "U+FFFD at offset 3");
  assert.equal(findMojibake("a\u0000b"), "U+0000 at offset 1");
  assert.equal(findMojibake("ab\u001B[0m"), "U+001B at offset 2");
  assert.equal(findMojibake("\u007F"), "U+007F at offset 0");
  assert.equal(findMojibake("Ã\u0089t\u00E9"), "U+0089 at offset 1");
});

Deno.test("findMojibake accepts tabs, newlines and ordinary text in any script", () => {
  assert.equal(findMojibake("a\tb\r\nc"), undefined);
  assert.equal(findMojibake("只剩一个心脏了还能活吗？café 😀"), undefined);
});
