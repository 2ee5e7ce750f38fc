/** A tokenizer's spec, cloned as a Worker would receive it, makes an equal tokenizer. */
import assert from "node:assert/strict";
import { TextTokenizer } from "../mod.ts";
import { loadFixtureModel } from "../server/_test_fixture.ts";

Deno.test("TextTokenizer.fromSpec: a structured clone of the spec encodes and templates alike", async () => {
  const original = (await loadFixtureModel("cpu")).tokenizer;
  const copy = TextTokenizer.fromSpec(structuredClone(original.spec));
  const text = "Why is the sky blue? 为什么天是蓝的？";
  assert.deepEqual(copy.encode(text), original.encode(text));
  assert.deepEqual([copy.bosId, copy.eosIds, copy.padId], [
    original.bosId,
    original.eosIds,
    original.padId,
  ]);
  assert.ok(original.hasChatTemplate);
  const messages = [{ role: "user" as const, content: "Hi" }];
  assert.equal(
    copy.applyChatTemplate(messages, { addGenerationPrompt: true }),
    original.applyChatTemplate(messages, { addGenerationPrompt: true }),
  );
});
