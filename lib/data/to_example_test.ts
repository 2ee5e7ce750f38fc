import assert from "node:assert/strict";
import type { ChatMessage } from "../text/tokenizer.ts";
import { type RenderChat, toExample } from "./to_example.ts";

/** A Llama-3-style template, written out by hand. */
const llama3: RenderChat = (messages: ChatMessage[], { addGenerationPrompt }) =>
  "<|begin_of_text|>" +
  messages.map((m) => `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content}<|eot_id|>`)
    .join("") +
  (addGenerationPrompt ? "<|start_header_id|>assistant<|end_header_id|>\n\n" : "");

Deno.test("toExample applies the Human/Assistant template to alpaca records", () => {
  const record = {
    format: "alpaca",
    instruction: "一加一？",
    input: "",
    output: "二。",
    system: "",
  } as const;
  const example = toExample(record, "index 0");
  assert.deepEqual(example, { prompt: "Human: 一加一？\nAssistant:", completion: " 二。" });
  assert.ok("prompt" in example);
  assert.equal(example.prompt + example.completion, "Human: 一加一？\nAssistant: 二。");
});

Deno.test("toExample appends the alpaca input to the instruction and puts the system first", () => {
  assert.deepEqual(
    toExample({
      format: "alpaca",
      instruction: "Translate",
      input: "猫",
      output: "cat",
      system: "Be brief",
    }, "i"),
    { prompt: "Be brief\nHuman: Translate\n猫\nAssistant:", completion: " cat" },
  );
});

Deno.test("toExample uses a custom training template for alpaca records", () => {
  assert.deepEqual(
    toExample(
      { format: "alpaca", instruction: "q", input: "", output: "a", system: "" },
      "i",
      undefined,
      "### Q: {instruction}\n### A: {output}",
    ),
    { prompt: "### Q: q\n### A:", completion: " a" },
  );
});

Deno.test("toExample passes prompt/completion and text records through", () => {
  assert.deepEqual(toExample({ format: "prompt_completion", prompt: "p", completion: "c" }, "i"), {
    prompt: "p",
    completion: "c",
  });
  assert.deepEqual(toExample({ format: "text", text: "t" }, "i"), { text: "t" });
});

Deno.test("toExample renders chats: earlier turns as the prompt, the last answer as completion", () => {
  const messages: ChatMessage[] = [
    { role: "system", content: "S" },
    { role: "user", content: "Q1" },
    { role: "assistant", content: "A1" },
    { role: "user", content: "Q2" },
    { role: "assistant", content: "A2" },
  ];
  const example = toExample({ format: "chat", messages }, "i", llama3);
  assert.deepEqual(example, {
    prompt: llama3(messages.slice(0, 4), { addGenerationPrompt: true }),
    completion: "A2<|eot_id|>",
  });
  assert.ok(
    "prompt" in example &&
      example.prompt.endsWith("Q2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
  );
});

Deno.test("toExample needs renderChat for chats and a template whose prompt is a prefix", () => {
  const record = {
    format: "chat",
    messages: [{ role: "user", content: "q" }, { role: "assistant", content: "a" }],
  } as const;
  const chat = { format: "chat" as const, messages: [...record.messages] };
  assert.throws(
    () => toExample(chat, "line 2 of c.jsonl"),
    /Chat record at line 2 of c\.jsonl needs the model's chat template/,
  );
  const reordering: RenderChat = (m, o) =>
    (o.addGenerationPrompt ? "GEN " : "") + m.map((x) => x.content).join("|");
  assert.throws(
    () => toExample(chat, "line 2 of c.jsonl", reordering),
    /for the record at line 2 of c\.jsonl does not start with its prompt/,
  );
});

Deno.test("toExample gives chatTemplateKwargs to both renderings of a chat", () => {
  const seen: unknown[] = [];
  const recording: RenderChat = (m, o) => {
    seen.push(o.chatTemplateKwargs);
    return llama3(m, o);
  };
  const messages: ChatMessage[] = [
    { role: "user", content: "Q" },
    { role: "assistant", content: "A" },
  ];
  const kwargs = { enable_thinking: false };
  toExample({ format: "chat", messages }, "i", recording, undefined, kwargs);
  assert.deepEqual(seen, [kwargs, kwargs]);
});
