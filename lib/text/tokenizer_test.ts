import assert from "node:assert/strict";
import { fixtureTokenizer } from "../fixtures/fixture_tokenizer.ts";
import { TextTokenizer } from "./tokenizer.ts";

// Llama 3's tokenizer with the post-processor of Llama 3.2's tokenizer.json, which adds BOS.
const { json: llama32Json, config: llama3Config } = fixtureTokenizer("llama3");
// The original Llama 3 tokenizer.json had a post-processor that adds no BOS.
const llama3Json = {
  ...llama32Json,
  post_processor: {
    type: "ByteLevel",
    add_prefix_space: true,
    trim_offsets: false,
    use_regex: true,
  },
};
const model = llama32Json.model as { vocab: Record<string, number>; merges: string[] };
const addedTokens = llama32Json.added_tokens as { id: number; content: string }[];
const tok = TextTokenizer.fromJson(llama32Json, llama3Config);

// An independent byte-level BPE reference (GPT-2's bytes_to_unicode + rank-ordered merges).
const BYTE_TO_CHAR: string[] = (() => {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable(b) ? b : 256 + n++);
  return out;
})();
const byteLevel = (text: string) =>
  Array.from(new TextEncoder().encode(text), (b) => BYTE_TO_CHAR[b]).join("");
const vocab = model.vocab;
const mergeRank = new Map(model.merges.map((m, i) => [m, i]));

/** Byte-level BPE of one pre-tokenized piece, by the merge ranks of tokenizer.json. */
function referenceBpe(piece: string): number[] {
  let parts = [...byteLevel(piece)];
  for (;;) {
    let best = -1, bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const rank = mergeRank.get(`${parts[i]} ${parts[i + 1]}`);
      if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
    }
    if (best < 0) return parts.map((p) => vocab[p]);
    const [a, b] = [parts[best], parts[best + 1]];
    const merged: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) merged.push(a + b), i++;
      else merged.push(parts[i]);
    }
    parts = merged;
  }
}

const specialId = (content: string) => addedTokens.find((t) => t.content === content)!.id;

Deno.test("TextTokenizer reads Llama 3 vocabulary and special-token facts", () => {
  assert.equal(tok.vocabSize, 128256);
  assert.equal(tok.bosId, specialId("<|begin_of_text|>"));
  assert.equal(tok.bosId, 128000);
  assert.deepEqual(tok.eosIds, [128001]);
  assert.ok(tok.isSpecial(128000) && tok.isSpecial(specialId("<|eot_id|>")));
  assert.ok(!tok.isSpecial(vocab["Hello"]));
  assert.equal(tok.idToToken(vocab["Ġworld"]), "Ġworld");
  assert.equal(tok.tokenToId("<|eot_id|>"), 128009);
  assert.equal(tok.tokenToId("no such token"), undefined);

  const instruct = TextTokenizer.fromJson(llama32Json, llama3Config, {
    eosIds: [128009],
    generationConfig: { eos_token_id: [128001, 128008, 128009] },
  });
  assert.deepEqual(instruct.eosIds, [128001, 128009, 128008]);
});

Deno.test("TextTokenizer encodes English and Chinese like byte-level BPE, BOS first", () => {
  // Pieces follow the Llama 3 split regex: letters with one leading non-letter, punctuation runs.
  const cases: [string, string[]][] = [
    ["Hello world", ["Hello", " world"]],
    ["The quick brown fox", ["The", " quick", " brown", " fox"]],
    ["你好，世界", ["你好", "，", "世界"]],
    ["弱智吧是什么", ["弱智吧是什么"]],
  ];
  for (const [text, pieces] of cases) {
    const expected = pieces.flatMap(referenceBpe);
    assert.ok(expected.every((id) => Number.isInteger(id)), `reference failed for ${text}`);
    assert.deepEqual(tok.encode(text), [128000, ...expected], text);
    assert.deepEqual(tok.encode(text, { addSpecialTokens: false }), expected, text);
  }
  // "Hello" and " world" are single vocabulary entries.
  assert.deepEqual(tok.encode("Hello world"), [128000, vocab["Hello"], vocab["Ġworld"]]);
  // Special-token text inside the input becomes the special id.
  assert.deepEqual(tok.encode("Hi<|eot_id|>", { addSpecialTokens: false }), [
    vocab["Hi"],
    128009,
  ]);
});

Deno.test("TextTokenizer add_bos_token overrides the post-processor either way", () => {
  const original = TextTokenizer.fromJson(llama3Json, llama3Config);
  const hello = [vocab["Hello"]];
  assert.deepEqual(original.encode("Hello"), hello, "original Llama 3 file adds no BOS");
  const forced = TextTokenizer.fromJson(llama3Json, { ...llama3Config, add_bos_token: true });
  assert.deepEqual(forced.encode("Hello"), [128000, ...hello]);
  assert.deepEqual(forced.encode("Hello", { addSpecialTokens: false }), hello);
  const dropped = TextTokenizer.fromJson(llama32Json, llama3Config, { addBosToken: false });
  assert.deepEqual(dropped.encode("Hello"), hello);
});

Deno.test("TextTokenizer decode round-trips text exactly", () => {
  const texts = [
    "Hello world",
    "  leading spaces , and ' quotes ' ?",
    "为什么天是蓝的？\n因为瑞利散射。",
    "emoji 🦙🔥 and tabs\tend\n\n",
    "x = [1, 22, 333, 4444]",
  ];
  for (const text of texts) {
    assert.equal(tok.decode(tok.encode(text, { addSpecialTokens: false })), text);
    const withBos = tok.encode(text);
    assert.equal(tok.decode(withBos), "<|begin_of_text|>" + text);
    assert.equal(tok.decode(withBos, { skipSpecialTokens: true }), text);
  }
  assert.equal(tok.decode([]), "");
  // The first byte of "你" (E4) alone is an incomplete character.
  assert.equal(tok.decode([vocab[BYTE_TO_CHAR[0xe4]]]), "\uFFFD");
});

Deno.test("TextTokenizer applies the Llama 3 chat template", () => {
  assert.ok(tok.hasChatTemplate);
  const text = tok.applyChatTemplate([
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi " },
  ], { addGenerationPrompt: true });
  assert.equal(
    text,
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
      "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  const ids = tok.encode(text, { addSpecialTokens: false });
  assert.equal(ids[0], 128000);
  assert.equal(ids.filter((id) => id === 128000).length, 1);
  assert.equal(ids.filter((id) => id === 128009).length, 2);
  assert.throws(
    () => tok.applyChatTemplate([{ role: "robot", content: "x" } as never]),
    /Chat message 0 must have role system\|user\|assistant.*"robot"/,
  );
});

Deno.test("TextTokenizer handles configs without or with named chat templates", () => {
  const { chat_template: _, ...baseConfig } = llama3Config;
  const base = TextTokenizer.fromJson(llama32Json, baseConfig);
  assert.equal(base.hasChatTemplate, false);
  assert.throws(() => base.applyChatTemplate([{ role: "user", content: "x" }]), /no chat template/);

  const named = TextTokenizer.fromJson(llama32Json, {
    ...baseConfig,
    chat_template: [
      { name: "tool_use", template: "tools" },
      {
        name: "default",
        template: "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}" +
          "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}",
      },
    ],
  });
  assert.equal(
    named.applyChatTemplate([{ role: "user", content: "a" }, { role: "assistant", content: "b" }]),
    "[user]a[assistant]b<|end_of_text|>",
  );
  assert.equal(
    named.applyChatTemplate([{ role: "user", content: "a" }], { addGenerationPrompt: true }),
    "[user]a[assistant]<|end_of_text|>",
  );
});

Deno.test("TextTokenizer rejects bad input with clear errors", () => {
  assert.throws(() => TextTokenizer.fromJson("nope"), /Tokenizer JSON must be a JSON object/);
  assert.throws(() => TextTokenizer.fromJson({}), /Tokenizer JSON has no "model" object/);
  assert.throws(
    () => TextTokenizer.fromJson(llama32Json, { ...llama3Config, eos_token: "<|nope|>" }),
    /eos_token "<\|nope\|>" is not in the vocabulary/,
  );
  assert.throws(
    () => TextTokenizer.fromJson(llama32Json, llama3Config, { eosIds: [128256] }),
    /EOS id 128256 is outside the vocabulary \[0, 128256\)/,
  );
  assert.throws(() => tok.decode([5, -1]), /Token id -1 is outside the vocabulary/);
  assert.throws(() => tok.decode([1.5]), /Token id 1.5 is outside/);
  assert.throws(() => tok.encode(42 as never), /Text to encode must be a string, got number/);
});

Deno.test("TextTokenizer pads with pad_token, else the first EOS id", () => {
  assert.equal(tok.padId, 128001, "Llama 3 names no pad_token");
  const padded = TextTokenizer.fromJson(llama32Json, {
    ...llama3Config,
    pad_token: { content: "<|reserved_special_token_0|>" },
  });
  assert.equal(padded.padId, 128002);
  const unknownPad = TextTokenizer.fromJson(llama32Json, { ...llama3Config, pad_token: "<pad>" });
  assert.equal(unknownPad.padId, 128001, "a pad_token outside the vocabulary is not used");
  const { eos_token: _, ...noEos } = llama3Config;
  assert.equal(TextTokenizer.fromJson(llama32Json, noEos).padId, null);
});
