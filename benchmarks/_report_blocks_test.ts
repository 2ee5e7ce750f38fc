import assert from "node:assert/strict";
import { reportBlock, reportBlocks, withReportBlock } from "./_report_blocks.ts";

Deno.test("a report block is appended once, then replaced in place, the rest kept", () => {
  const base = "# Benchmarks\n\nmain's text\n";
  const one = withReportBlock(base, "batch_load", "| a |\n| 1 |");
  assert.equal(one, `${base}\n<!-- begin batch_load -->\n| a |\n| 1 |\n<!-- end batch_load -->\n`);
  const withTail = withReportBlock(one, "profile", "p1") + "tail\n";
  const replaced = withReportBlock(withTail, "batch_load", "| a |\n| 2 |");
  assert.ok(replaced.startsWith(base));
  assert.ok(replaced.includes("| 2 |") && !replaced.includes("| 1 |"));
  assert.ok(replaced.endsWith("<!-- begin profile -->\np1\n<!-- end profile -->\ntail\n"));
  assert.deepEqual([...reportBlocks(replaced).keys()], ["batch_load", "profile"]);
});

Deno.test("a block name that is not a word is refused", () => {
  assert.throws(() => reportBlock("a b -->", "x"), /not a word/);
});
