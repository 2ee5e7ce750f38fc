/**
 * vLLM's `chat_template_kwargs` on the server (CPU backend, `app.request()`): chat completions
 * render the chat template with them, fine-tuning jobs render chat records with them, and a
 * malformed value is a 400 naming the field.
 */
import assert from "node:assert/strict";
import { loadModel, memoryModelSource } from "../mod.ts";
import { FIXTURE_ID, fixtureModelFiles, fixtureServer } from "../server/_test_fixture.ts";

/** The fixture model, its chat template ending a generation prompt like Qwen3's. */
async function thinkingModel() {
  const files = fixtureModelFiles();
  const config = JSON.parse(new TextDecoder().decode(files.get("tokenizer_config.json")));
  config.chat_template += "{%- if add_generation_prompt and enable_thinking is defined and " +
    "enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}";
  files.set("tokenizer_config.json", new TextEncoder().encode(JSON.stringify(config)));
  return await loadModel(memoryModelSource(FIXTURE_ID, files), { backend: "cpu", maxContext: 256 });
}

const model = await thinkingModel();
const { app } = await fixtureServer(model);
const messages = [{ role: "user" as const, content: "Hi there" }];
const off = { enable_thinking: false };

function post(path: string, body: Record<string, unknown>) {
  return app.request(path, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
}

async function expectBadRequest(response: Response, param: string, message: RegExp) {
  const body = await response.json();
  assert.equal(response.status, 400, JSON.stringify(body));
  assert.equal(body.error.param, param);
  assert.match(body.error.message, message);
  return body.error;
}

Deno.test("chat completions render the chat template with chat_template_kwargs", async () => {
  const chat = async (extra: Record<string, unknown>) =>
    await (await post("/v1/chat/completions", {
      model: FIXTURE_ID,
      messages,
      temperature: 0,
      max_tokens: 4,
      ...extra,
    })).json();
  const thinking = model.encodePrompt(messages, "chat");
  const notThinking = model.encodePrompt(messages, "chat", off);
  assert.ok(notThinking.length > thinking.length, "the template adds the think block");
  assert.equal((await chat({})).usage.prompt_tokens, thinking.length);
  assert.equal((await chat({ chat_template_kwargs: null })).usage.prompt_tokens, thinking.length);
  const body = await chat({ chat_template_kwargs: off });
  assert.equal(body.usage.prompt_tokens, notThinking.length);
  const expected = await model.generate(messages, {
    chatTemplateKwargs: off,
    temperature: 0,
    maxTokens: 4,
  });
  assert.equal(body.choices[0].message.content, expected.text);
});

Deno.test("a malformed chat_template_kwargs is a 400 naming it", async () => {
  for (const bad of [5, "x", [1], true]) {
    await expectBadRequest(
      await post("/v1/chat/completions", {
        model: FIXTURE_ID,
        messages,
        chat_template_kwargs: bad,
      }),
      "chat_template_kwargs",
      /^Invalid chat_template_kwargs: Chat template kwargs must be a JSON object/,
    );
  }
  await expectBadRequest(
    await post("/v1/chat/completions", {
      model: FIXTURE_ID,
      messages,
      chat_template_kwargs: { add_generation_prompt: false },
    }),
    "chat_template_kwargs",
    /must not set add_generation_prompt/,
  );
  await expectBadRequest(
    await post("/v1/fine_tuning/jobs", {
      model: FIXTURE_ID,
      training_data: [{ instruction: "a", output: "b" }],
      chat_template_kwargs: [],
    }),
    "chat_template_kwargs",
    /^Invalid chat_template_kwargs: Chat template kwargs must be a JSON object/,
  );
});

Deno.test("fine-tuning jobs render chat records with chat_template_kwargs", async () => {
  const training_data = [{
    messages: [...messages, { role: "assistant", content: "Hello" }],
  }];
  // Without them the data loads, and the job is refused only because this server runs on the
  // CPU. With thinking off this template's prompt ends in a think block that its rendering of
  // the whole conversation lacks, so the record cannot be split: proof the variables arrived.
  const plain = await expectBadRequest(
    await post("/v1/fine_tuning/jobs", { model: FIXTURE_ID, training_data }),
    "model",
    /./,
  );
  assert.equal(plain.code, "training_unavailable");
  const rendered = await expectBadRequest(
    await post("/v1/fine_tuning/jobs", {
      model: FIXTURE_ID,
      training_data,
      chat_template_kwargs: off,
    }),
    "training_data",
    /does not start with its prompt/,
  );
  assert.equal(rendered.code, "invalid_data");
});
