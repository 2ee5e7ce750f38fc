import assert from "node:assert/strict";
import { fixtureTokenizer } from "../fixtures/fixture_tokenizer.ts";
import {
  type GenerateOptions,
  generateText,
  type GenerationChunk,
  type GenerationResult,
  type LogitsStepper,
  streamTokens,
} from "./generate.ts";
import { Rng } from "../util/rng.ts";
import { TextTokenizer } from "../text/tokenizer.ts";

const { json, config } = fixtureTokenizer("llama3");
const tok = TextTokenizer.fromJson(json, config);
const V = tok.vocabSize;
const EOS = 128001;
const greedy: GenerateOptions = { temperature: 0 };

/**
 * A fake model that plays a script: its logits always peak at the next scripted id, so greedy
 * decoding reproduces the script. It records the calls it gets and checks that each decoded id
 * is the one it asked for.
 */
class ScriptedStepper implements LogitsStepper {
  readonly calls: string[] = [];
  #step = 0;
  constructor(readonly script: number[], readonly maxContext = 4096) {}

  prefill(ids: number[], signal?: AbortSignal): Promise<Float32Array> {
    signal?.throwIfAborted();
    this.calls.push(`prefill ${ids.length}`);
    this.#step = 0;
    return Promise.resolve(this.#logits());
  }

  decode(id: number, signal?: AbortSignal): Promise<Float32Array> {
    this.calls.push(`decode ${id}`);
    signal?.throwIfAborted();
    assert.equal(id, this.script[this.#step], `decode got ${id} at step ${this.#step}`);
    this.#step++;
    return Promise.resolve(this.#logits());
  }

  #logits(): Float32Array {
    assert.ok(this.#step < this.script.length, `script of ${this.script.length} ran out`);
    const logits = new Float32Array(V); // (V)
    logits[this.script[this.#step]] = 10;
    return logits;
  }
}

/** Runs streamTokens to the end, collecting its chunks and result. */
async function collect(
  stepper: LogitsStepper,
  promptIds: number[],
  options: GenerateOptions,
): Promise<{ chunks: GenerationChunk[]; result: GenerationResult }> {
  const chunks: GenerationChunk[] = [];
  const stream = streamTokens(stepper, tok, promptIds, options);
  while (true) {
    const next = await stream.next();
    if (next.done) return { chunks, result: next.value };
    chunks.push(next.value);
  }
}

const prompt = tok.encode("Human: 写一首诗\nAssistant:");
const ids = (text: string) => tok.encode(text, { addSpecialTokens: false });

Deno.test("streamTokens streams Chinese split across byte tokens without breaking a character", async () => {
  const text = "饕餮龘靐，你好🦙！";
  const script = [...ids(text), EOS];
  const partial = script.filter((id) => tok.decode([id]).includes("\uFFFD"));
  assert.ok(partial.length >= 5, `expected tokens ending mid-character, got ${partial.length}`);
  const stepper = new ScriptedStepper(script);
  const { chunks, result } = await collect(stepper, prompt, greedy);
  for (const chunk of chunks) {
    assert.ok(chunk.text !== "" && !chunk.text.includes("\uFFFD"), `bad chunk ${chunk.text}`);
  }
  assert.equal(chunks.map((c) => c.text).join(""), text);
  assert.ok(chunks.length < script.length - 1, "partial tokens must be merged into chunks");
  assert.deepEqual(chunks.flatMap((c) => c.tokenIds), script.slice(0, -1));
  assert.deepEqual(result, {
    text,
    tokens: script,
    promptTokens: prompt.length,
    completionTokens: script.length,
    finishReason: "stop",
  });
  // EOS ends the loop without another model step: one prefill, no decode of EOS.
  assert.equal(stepper.calls.length, script.length);
  assert.equal(stepper.calls.at(-1), `decode ${script.at(-2)}`);
});

Deno.test("streamTokens stops at a stop string spanning tokens and never leaks its start", async () => {
  const text = "Sure. <EN is not <END> the end";
  const script = ids(text);
  const stop = ["<END>", "\nHuman:"];
  const stepper = new ScriptedStepper(script);
  const { chunks, result } = await collect(stepper, prompt, { ...greedy, stop });
  assert.equal(result.text, "Sure. <EN is not ");
  assert.equal(chunks.map((c) => c.text).join(""), result.text);
  assert.equal(result.finishReason, "stop");
  // Output so far never ends with a proper prefix of a stop string.
  let soFar = "";
  for (const chunk of chunks) {
    soFar += chunk.text;
    for (const s of stop) {
      for (let n = 1; n < s.length; n++) {
        assert.ok(!soFar.endsWith(s.slice(0, n)), `leaked ${JSON.stringify(s.slice(0, n))}`);
      }
    }
  }
  // Generation ends on the token that completes "<END>", before " the end".
  const used = result.tokens.length;
  assert.equal(tok.decode(script.slice(0, used)).includes("<END>"), true);
  assert.equal(tok.decode(script.slice(0, used - 1)).includes("<END>"), false);
  assert.equal(stepper.calls.length, used);
});

Deno.test("streamTokens cuts at the earliest stop string, in Chinese too", async () => {
  const script = ids("今天你好吗？我很好。");
  const { result } = await collect(new ScriptedStepper(script), prompt, {
    ...greedy,
    stop: ["很好", "你好"],
  });
  assert.equal(result.text, "今天");
  assert.equal(result.finishReason, "stop");
  // Both stop strings arrive within one token: the text ends before the earlier one.
  const hello = ids("Hello world");
  assert.equal(tok.decode([hello[0]]), "Hello");
  const { result: both } = await collect(new ScriptedStepper(hello), prompt, {
    ...greedy,
    stop: ["llo", "Hel"],
  });
  assert.equal(both.text, "");
});

Deno.test("streamTokens ends at any of the given EOS ids", async () => {
  const script = [...ids("Done"), 128009, ...ids(" more")];
  const { result } = await collect(new ScriptedStepper(script), prompt, {
    ...greedy,
    eosIds: [EOS, 128009],
  });
  assert.equal(result.text, "Done");
  assert.deepEqual(result.tokens, [...ids("Done"), 128009]);
  assert.equal(result.finishReason, "stop");
  // With the tokenizer's EOS ids only, <|eot_id|> is a special token left out of the text.
  const { result: on } = await collect(new ScriptedStepper([...script, EOS]), prompt, greedy);
  assert.equal(on.text, "Done more");
  assert.equal(on.finishReason, "stop");
});

Deno.test("streamTokens stops at maxTokens and when the context is full", async () => {
  const script = ids("one two three four five six");
  const stepper = new ScriptedStepper(script);
  const { result } = await collect(stepper, prompt, { ...greedy, maxTokens: 3 });
  assert.deepEqual(result.tokens, script.slice(0, 3));
  assert.equal(result.text, "one two three");
  assert.equal(result.finishReason, "length");
  assert.equal(stepper.calls.filter((c) => c.startsWith("decode")).length, 2);

  const full = new ScriptedStepper(script, prompt.length + 2);
  const { result: r2 } = await collect(full, prompt, greedy);
  assert.deepEqual(r2.tokens, script.slice(0, 2));
  assert.equal(r2.finishReason, "length");

  await assert.rejects(
    collect(new ScriptedStepper(script, prompt.length), prompt, greedy),
    new RegExp(
      `Prompt of ${prompt.length} tokens leaves no room in the context of ${prompt.length}`,
    ),
  );
});

Deno.test("streamTokens flushes an incomplete last character at the length limit", async () => {
  const script = ids("好龘");
  const { chunks, result } = await collect(new ScriptedStepper(script), prompt, {
    ...greedy,
    maxTokens: script.length - 1,
  });
  assert.equal(result.finishReason, "length");
  assert.equal(result.text, tok.decode(script.slice(0, -1)));
  assert.ok(result.text.startsWith("好") && result.text.endsWith("\uFFFD"));
  assert.equal(chunks.map((c) => c.text).join(""), result.text);
});

Deno.test("streamTokens aborts between tokens, during a step, and before starting", async () => {
  const script = ids("a b c d e f g");
  const controller = new AbortController();
  const stepper = new ScriptedStepper(script);
  const stream = streamTokens(stepper, tok, prompt, { ...greedy, signal: controller.signal });
  const first = await stream.next();
  assert.deepEqual(first, { done: false, value: { text: "a", tokenIds: [script[0]] } });
  controller.abort();
  const end = await stream.next();
  assert.equal(end.done, true);
  assert.deepEqual(end.value, {
    text: "a",
    tokens: [script[0]],
    promptTokens: prompt.length,
    completionTokens: 1,
    finishReason: "abort",
  });
  assert.deepEqual(stepper.calls, [`prefill ${prompt.length}`]);

  // The model sees the abort inside a decode step and throws.
  const inside = new AbortController();
  const aborting = new ScriptedStepper(script);
  const decode = aborting.decode.bind(aborting);
  aborting.decode = (id, signal) => {
    if (id === script[2]) inside.abort();
    return decode(id, signal);
  };
  const { result } = await collect(aborting, prompt, { ...greedy, signal: inside.signal });
  assert.equal(result.finishReason, "abort");
  assert.equal(result.text, "a b c");

  const { result: before } = await collect(new ScriptedStepper(script), prompt, {
    signal: AbortSignal.abort(),
  });
  assert.deepEqual([before.tokens, before.text, before.finishReason], [[], "", "abort"]);
});

Deno.test("streamTokens passes model errors through", async () => {
  const broken = new ScriptedStepper(ids("x"));
  broken.decode = () => Promise.reject(new Error("Device lost"));
  await assert.rejects(collect(broken, prompt, { ...greedy, maxTokens: 5 }), /Device lost/);
});

Deno.test("generateText samples reproducibly with a seed and penalises prompt tokens", async () => {
  // A model whose logits are the same random vector at every step.
  const noisy = new Float32Array(V); // (V)
  new Rng(3).fillNormal(noisy, 4);
  const flat: LogitsStepper = {
    maxContext: 4096,
    prefill: () => Promise.resolve(noisy),
    decode: () => Promise.resolve(noisy),
  };
  const options = { maxTokens: 12, temperature: 1, topP: 0.95, seed: 7, eosIds: [] };
  const a = await generateText(flat, tok, prompt, options);
  const b = await generateText(flat, tok, prompt, options);
  const c = await generateText(flat, tok, prompt, { ...options, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.tokens, c.tokens);
  assert.equal(a.completionTokens, 12);

  const streamed = await collect(flat, prompt, options);
  assert.deepEqual(streamed.result, a);
  assert.equal(streamed.chunks.map((chunk) => chunk.text).join(""), a.text);

  // The prompt's last token has the top logit; the repetition penalty moves greedy off it.
  const logits = new Float32Array(V); // (V)
  const [last, other] = [prompt.at(-1)!, ids(" hi")[0]];
  logits[last] = 2;
  logits[other] = 1.5;
  const fixed: LogitsStepper = {
    maxContext: 4096,
    prefill: () => Promise.resolve(logits),
    decode: () => Promise.resolve(logits),
  };
  const plain = await generateText(fixed, tok, prompt, { ...greedy, maxTokens: 1 });
  assert.deepEqual(plain.tokens, [last]);
  const penalised = await generateText(fixed, tok, prompt, {
    ...greedy,
    maxTokens: 1,
    repetitionPenalty: 2,
  });
  assert.deepEqual(penalised.tokens, [other]);
});

Deno.test("streamTokens rejects bad prompts and options", async () => {
  const stepper = new ScriptedStepper(ids("x"));
  await assert.rejects(collect(stepper, [], greedy), /Prompt is empty/);
  await assert.rejects(
    collect(stepper, [1, V], greedy),
    new RegExp(`Prompt token id ${V} is outside`),
  );
  await assert.rejects(collect(stepper, prompt, { maxTokens: 0 }), /maxTokens must be .* got 0/);
  await assert.rejects(collect(stepper, prompt, { stop: ["ok", ""] }), /got ""/);
  await assert.rejects(collect(stepper, prompt, { seed: 0.5 }), /Sampling seed must be an integer/);
  await assert.rejects(collect(stepper, prompt, { seed: 2 ** 32 }), /in \[0, 2\^32\)/);
});
