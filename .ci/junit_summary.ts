/**
 * Reads a Deno JUnit report and prints "N passed, N failed, N skipped" for CI.
 *
 * @module
 */
const path = Deno.args[0];
const xml = await Deno.readTextFile(path);
let passed = 0, failed = 0, skipped = 0;
for (const match of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const body = match[2] ?? "";
  if (/<(failure|error)\b/.test(body)) failed++;
  else if (/<skipped\b/.test(body)) skipped++;
  else passed++;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
