import assert from "node:assert/strict";
import { normalizeWhitespace } from "./normalize_whitespace.ts";

Deno.test("normalizeWhitespace fixes line endings, odd spaces, trailing spaces and blank runs", () => {
  assert.equal(
    normalizeWhitespace("  你好\u3000世界 \r\n\r\n\r\n再见\u200B\u00A0!\t \r"),
    "你好 世界\n\n再见 !",
  );
});

Deno.test("normalizeWhitespace keeps indentation and single blank lines", () => {
  const code = "def f():\n    return 1\n\nprint(f())";
  assert.equal(normalizeWhitespace(code), code);
});

Deno.test("normalizeWhitespace composes to NFC", () => {
  assert.equal(normalizeWhitespace("e\u0301"), "\u00E9");
});
