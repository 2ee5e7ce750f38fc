import assert from "node:assert/strict";
import { fixtureTokenizer } from "../fixtures/fixture_tokenizer.ts";
import { IncrementalDetokenizer, type TokenDecoder } from "./incremental_detokenizer.ts";
import { TextTokenizer } from "./tokenizer.ts";

const { json, config } = fixtureTokenizer("llama3");
const tok = TextTokenizer.fromJson(json, config);

/** Pushes every id and returns the pieces pushes returned, then the flushed rest. */
function stream(detok: IncrementalDetokenizer, ids: number[]): { pieces: string[]; rest: string } {
  const pieces = ids.map((id) => detok.push(id));
  return { pieces, rest: detok.flush() };
}

// Rare characters and an emoji, which Llama 3 splits into tokens ending mid-character.
const RARE = "饕餮龘靐 🦙 — 你好";

Deno.test("IncrementalDetokenizer never splits a character of byte-level tokens", () => {
  const ids = tok.encode(RARE, { addSpecialTokens: false });
  const partial = ids.filter((id) => tok.decode([id]).includes("\uFFFD"));
  assert.ok(partial.length >= 4, `expected tokens ending mid-character, got ${partial.length}`);
  const { pieces, rest } = stream(new IncrementalDetokenizer(tok), ids);
  assert.equal(rest, "");
  assert.equal(pieces.join(""), RARE);
  for (const piece of pieces) assert.ok(!piece.includes("\uFFFD"), `split character: ${piece}`);
  assert.ok(pieces.includes(""), "some tokens must wait for the rest of their character");
  // Text is released as soon as its last byte arrives: after each push, the output so far is
  // everything decoded so far up to the incomplete character.
  let soFar = "";
  pieces.forEach((piece, i) => {
    soFar += piece;
    assert.equal(soFar, tok.decode(ids.slice(0, i + 1)).replace(/\uFFFD+$/, ""));
  });
});

Deno.test("IncrementalDetokenizer flushes an incomplete trailing character as U+FFFD", () => {
  const ids = tok.encode("好龘", { addSpecialTokens: false });
  const cut = ids.slice(0, -1); // the last token completes 龘
  assert.ok(tok.decode(cut).endsWith("\uFFFD"), "the cut must end mid-character");
  const { pieces, rest } = stream(new IncrementalDetokenizer(tok), cut);
  assert.equal(pieces.join(""), "好");
  assert.equal(pieces.join("") + rest, tok.decode(cut));
  assert.ok(rest.includes("\uFFFD"));
});

Deno.test("IncrementalDetokenizer skips special tokens unless told not to", () => {
  const ids = [...tok.encode("Hi there"), 128009];
  assert.equal(ids[0], 128000);
  const skipped = stream(new IncrementalDetokenizer(tok), ids);
  assert.equal(skipped.pieces.join("") + skipped.rest, "Hi there");
  const kept = stream(new IncrementalDetokenizer(tok, { skipSpecialTokens: false }), ids);
  assert.equal(kept.pieces.join("") + kept.rest, "<|begin_of_text|>Hi there<|eot_id|>");
});

Deno.test("IncrementalDetokenizer keeps the first space after context ids (Metaspace)", () => {
  // A SentencePiece-style decoder: "▁" is a space, and a sequence's leading space is dropped.
  const pieces = ["▁Human", ":", "▁Hello", "▁world", "!"];
  const metaspace: TokenDecoder = {
    decode: (ids) => ids.map((id) => pieces[id]).join("").replaceAll("▁", " ").replace(/^ /, ""),
  };
  const withContext = new IncrementalDetokenizer(metaspace, { contextIds: [0, 1] });
  assert.equal(stream(withContext, [2, 3, 4]).pieces.join(""), " Hello world!");
  const alone = new IncrementalDetokenizer(metaspace);
  assert.equal(stream(alone, [2, 3, 4]).pieces.join(""), "Hello world!");
});

Deno.test("IncrementalDetokenizer decodes a short window, not the whole history", () => {
  let longest = 0;
  const spy: TokenDecoder = {
    decode: (ids, options) => {
      longest = Math.max(longest, ids.length);
      return tok.decode(ids, options);
    },
  };
  const text = "这是一个用来测试训练和生成文本的小语言模型。".repeat(20) + RARE;
  const ids = tok.encode(text, { addSpecialTokens: false });
  const { pieces, rest } = stream(new IncrementalDetokenizer(spy, { contextIds: [128000] }), ids);
  assert.equal(pieces.join("") + rest, text);
  assert.ok(ids.length > 200 && longest <= 8, `decoded ${longest} of ${ids.length} ids at once`);
});
