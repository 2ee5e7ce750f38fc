import assert from "node:assert/strict";
import { Template, Tokenizer } from "./deps.ts";
import { fixtureTokenizer } from "./fixture_tokenizer.ts";

const small = fixtureTokenizer("small");
const smallTok = new Tokenizer(small.json, small.config);

const TEXTS = [
  "Human: What is the capital of France?\nAssistant: The capital of France is Paris.",
  "为什么天空是蓝色的？太阳光由很多颜色组成。",
  "Mixed 中文 and English, with numbers 12345 and émojis 🙂👍🏽",
  "  leading and trailing spaces, tabs\tand\r\nnewlines\n\n",
  "Words it never saw: xylophone, квант, ∑λ",
  "",
];

Deno.test("small tokenizer: 512 tokens, 256 bytes, specials at the end", () => {
  assert.equal(small.vocabSize, 512);
  const model = small.json["model"] as { vocab: Record<string, number>; merges: string[] };
  const ids = Object.values(model.vocab).sort((a, b) => a - b);
  assert.deepEqual(ids, [...Array(507).keys()], "BPE ids are 0..506 without gaps");
  assert.equal(model.vocab["!"], 0);
  assert.equal(model.vocab["Ġ"], 220, "space is GPT-2's Ġ at id 220");
  assert.ok(model.merges.length >= 251);
  assert.deepEqual(
    [small.bosTokenId, small.eosTokenId, small.eotTokenId],
    [507, 508, 511],
  );
  assert.equal(smallTok.token_to_id("<|begin_of_text|>"), 507);
  assert.equal(smallTok.token_to_id("<|end_of_text|>"), 508);
  assert.equal(smallTok.token_to_id("<|eot_id|>"), 511);
  assert.equal(smallTok.id_to_token(511), "<|eot_id|>");
});

Deno.test("small tokenizer round-trips English and Chinese text, adding BOS", () => {
  for (const text of TEXTS) {
    const { ids } = smallTok.encode(text);
    assert.equal(ids[0], small.bosTokenId, `no BOS for ${JSON.stringify(text)}`);
    assert.ok(ids.every((id) => id >= 0 && id < small.vocabSize));
    assert.equal(smallTok.decode(ids, { skip_special_tokens: true }), text);
    assert.equal(smallTok.decode(ids), "<|begin_of_text|>" + text);
    const bare = smallTok.encode(text, { add_special_tokens: false }).ids;
    assert.deepEqual(bare, ids.slice(1));
  }
});

Deno.test("small tokenizer merges common words into single tokens", () => {
  for (const word of [" the", " and", " capital", "Assistant", " France"]) {
    const { tokens } = smallTok.encode(word, { add_special_tokens: false });
    assert.equal(tokens.length, 1, `${JSON.stringify(word)} → ${tokens.join("|")}`);
  }
  // Chinese compresses too: fewer tokens than UTF-8 bytes.
  const chinese = "为什么天空是蓝色的";
  const { ids } = smallTok.encode(chinese, { add_special_tokens: false });
  assert.ok(ids.length < new TextEncoder().encode(chinese).length / 2, `${ids.length} tokens`);
});

Deno.test("small tokenizer: special tokens in text and the chat template", () => {
  const { ids } = smallTok.encode("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>");
  assert.equal(ids[0], small.bosTokenId);
  assert.equal(ids[1], smallTok.token_to_id("<|start_header_id|>"));
  assert.equal(ids.at(-1), small.eotTokenId);

  const template = new Template(small.config["chat_template"] as string);
  const prompt = template.render({
    messages: [{ role: "user", content: " 你好, who are you? " }],
    bos_token: small.config["bos_token"],
    add_generation_prompt: true,
  });
  assert.equal(
    prompt,
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n你好, who are you?<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  const encoded = smallTok.encode(prompt, { add_special_tokens: false }).ids;
  assert.equal(encoded.filter((id) => id === small.eotTokenId).length, 1);
  assert.equal(smallTok.decode(encoded), prompt);
});

Deno.test("llama3 tokenizer: real vocabulary, BOS from the Llama 3.2 post-processor", () => {
  const llama3 = fixtureTokenizer("llama3");
  assert.equal(llama3.vocabSize, 128256);
  assert.deepEqual(
    [llama3.bosTokenId, llama3.eosTokenId, llama3.eotTokenId],
    [128000, 128001, 128009],
  );
  const tok = new Tokenizer(llama3.json, llama3.config);
  const { ids, tokens } = tok.encode("Hello World");
  assert.deepEqual(ids, [128000, 9906, 4435]); // "Hello", "ĠWorld" as in the tokenizers README
  assert.deepEqual(tokens.slice(1), ["Hello", "ĠWorld"]);
  const text = "Mixed 中文 and English 🙂";
  assert.equal(tok.decode(tok.encode(text).ids, { skip_special_tokens: true }), text);
  assert.equal(llama3.config["bos_token"], "<|begin_of_text|>");
});

Deno.test("unknown tokenizer kinds are refused by name", () => {
  assert.throws(
    () => fixtureTokenizer("gpt2" as "small"),
    /^Error: Unknown fixture tokenizer "gpt2": expected small or llama3$/,
  );
});
