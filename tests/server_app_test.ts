/**
 * The app through `app.request()` on the CPU backend (no GPU needed): OpenAI shapes, streaming,
 * adapters, auth, limits and errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createApp } from "../server/app.ts";
import { humanAssistantTranscript, ServerEngine } from "../server/engine.ts";
import {
  FIXTURE_ID,
  fixtureServer,
  loadFixtureModel,
  randomAdapter,
  tempDir,
  writeAdapter,
} from "../server/_test_fixture.ts";
import { expectError, post } from "./_server_requests.ts";

const model = await loadFixtureModel("cpu");
const server = await fixtureServer(model, { adapters: ["a1", "a2"] });

/** The JSON events of an SSE body; asserts the `data: …\n\n` framing and the final [DONE]. */
function events(text: string): Record<string, unknown>[] {
  assert.ok(text.endsWith("data: [DONE]\n\n"), text.slice(-200));
  const blocks = text.slice(0, -"data: [DONE]\n\n".length).split("\n\n");
  assert.equal(blocks.pop(), "");
  return blocks.map((block) => {
    assert.ok(block.startsWith("data: ") && !block.includes("\n"), block);
    return JSON.parse(block.slice(6));
  });
}

const greedy = { temperature: 0, max_tokens: 6 };

Deno.test("health is 503 while the model loads, then 200; a failed load stays 503", async () => {
  let finish!: (m: typeof model) => void;
  const engine = new ServerEngine(new Promise((resolve) => (finish = resolve)), {
    adaptersDir: join(await tempDir(), "adapters"),
  });
  const app = createApp(engine, { loopbackOnly: true });
  const loading = await app.request("/health");
  assert.equal(loading.status, 503);
  assert.equal((await loading.json()).status, "loading");
  const error = await expectError(await app.request("/v1/models"), 503);
  assert.equal(error.code, "model_loading");
  finish(model);
  await engine.ready;
  const ready = await app.request("/health");
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), {
    status: "ok",
    model: FIXTURE_ID,
    backend: "cpu",
    kernels: null,
    queue: { requests: 0, waiting: 0, max: 32 },
  });

  const adaptersDir = join(await tempDir(), "adapters"); // not awaited in the call: that would leave the rejection unhandled
  const failed = new ServerEngine(Promise.reject(new Error("No config.json in /x")), {
    adaptersDir,
  });
  await assert.rejects(failed.ready, /No config\.json/);
  const response = await createApp(failed).request("/health");
  assert.equal(response.status, 503);
  assert.deepEqual(await response.json(), {
    status: "failed",
    error: "No config.json in /x",
    queue: { requests: 0, waiting: 0, max: 32 },
  });
});

Deno.test("models lists the base and every adapter with parent set to the base", async () => {
  const response = await server.app.request("/v1/models");
  const body = await response.json();
  assert.equal(body.object, "list");
  assert.deepEqual(body.data.map((m: { id: string; parent: string | null }) => [m.id, m.parent]), [
    [FIXTURE_ID, null],
    ["a1", FIXTURE_ID],
    ["a2", FIXTURE_ID],
  ]);
  assert.equal((await (await server.app.request("/v1/models/a2")).json()).id, "a2");
  await expectError(await server.app.request("/v1/models/nope"), 404, "model");
});

Deno.test("completions: greedy text and usage equal the model's own generation", async () => {
  const expected = await model.generate("Once upon", {
    template: "none",
    temperature: 0,
    maxTokens: 6,
  });
  const response = await post(server.app, "/v1/completions", {
    model: FIXTURE_ID,
    prompt: "Once upon",
    ...greedy,
  });
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.object, "text_completion");
  assert.match(body.id, /^cmpl-/);
  assert.equal(body.model, FIXTURE_ID);
  assert.deepEqual(body.choices, [{
    text: expected.text,
    index: 0,
    logprobs: null,
    finish_reason: expected.finishReason,
  }]);
  assert.deepEqual(body.usage, {
    prompt_tokens: expected.promptTokens,
    completion_tokens: expected.completionTokens,
    total_tokens: expected.promptTokens + expected.completionTokens,
  });
  // A one-string array is the same prompt.
  const listed = await (await post(server.app, "/v1/completions", {
    model: FIXTURE_ID,
    prompt: ["Once upon"],
    ...greedy,
  })).json();
  assert.equal(listed.choices[0].text, expected.text);
  // The prompt's token ids (BOS included) are the same prompt too, alone or in an array.
  const ids = model.encodePrompt("Once upon", "none");
  for (const prompt of [ids, [ids]]) {
    const byIds = await (await post(server.app, "/v1/completions", {
      model: FIXTURE_ID,
      prompt,
      ...greedy,
    })).json();
    assert.equal(byIds.choices[0].text, expected.text);
    assert.equal(byIds.usage.prompt_tokens, expected.promptTokens);
  }
});

Deno.test("echo without logprobs puts the prompt before the completion, streamed or not", async () => {
  const expected = await model.generate("Once upon", { template: "none", ...greedy, maxTokens: 6 });
  const request = { model: FIXTURE_ID, prompt: "Once upon", echo: true, ...greedy };
  const body = await (await post(server.app, "/v1/completions", request)).json();
  assert.equal(body.choices[0].text, "Once upon" + expected.text);
  assert.equal(body.choices[0].logprobs, null);
  const streamed = events(
    await (await post(server.app, "/v1/completions", { ...request, stream: true })).text(),
  );
  const text = streamed.map((e) => (e.choices as { text: string }[])[0].text).join("");
  assert.equal(text, "Once upon" + expected.text);
});

Deno.test("chat: the request's model picks the adapter, applied through the chat template", async () => {
  const messages = [{ role: "system" as const, content: "Be brief." }, {
    role: "user" as const,
    content: "Hi there",
  }];
  const outputs = new Map<string, string>();
  for (const id of [FIXTURE_ID, "a1", "a2"]) {
    const body =
      await (await post(server.app, "/v1/chat/completions", { model: id, messages, ...greedy }))
        .json();
    const expected = await model.generate(messages, { // the request loaded the adapter
      adapter: id === FIXTURE_ID ? null : id,
      temperature: 0,
      maxTokens: 6,
    });
    assert.equal(body.object, "chat.completion");
    assert.match(body.id, /^chatcmpl-/);
    assert.deepEqual(body.choices[0].message, {
      role: "assistant",
      content: expected.text,
      refusal: null,
    });
    assert.equal(body.choices[0].finish_reason, expected.finishReason);
    assert.equal(body.usage.prompt_tokens, expected.promptTokens);
    outputs.set(id, expected.text);
  }
  assert.equal(
    new Set(outputs.values()).size,
    3,
    `adapters change the output: ${[...outputs.values()]}`,
  );
  // Text parts and the developer role are accepted and mean the same.
  const parts = await (await post(server.app, "/v1/chat/completions", {
    model: "a1",
    messages: [{ role: "developer", content: "Be brief." }, {
      role: "user",
      content: [{ type: "text", text: "Hi " }, { type: "text", text: "there" }],
    }],
    ...greedy,
  })).json();
  assert.equal(parts.choices[0].message.content, outputs.get("a1"));
});

Deno.test("streaming chat: role chunk, deltas, finish chunk, usage chunk, [DONE]", async () => {
  const messages = [{ role: "user", content: "Tell me" }];
  const full =
    await (await post(server.app, "/v1/chat/completions", { model: "a2", messages, ...greedy }))
      .json();
  const response = await post(server.app, "/v1/chat/completions", {
    model: "a2",
    messages,
    ...greedy,
    stream: true,
    stream_options: { include_usage: true },
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type")!, /^text\/event-stream/);
  const chunks = events(await response.text());
  assert.ok(
    chunks.every((c) =>
      c.object === "chat.completion.chunk" && c.id === chunks[0].id && c.model === "a2"
    ),
  );
  const choices = chunks.map((
    c,
  ) => (c.choices as { delta: Record<string, string>; finish_reason: string | null }[]));
  assert.deepEqual(choices[0][0].delta, { role: "assistant", content: "" });
  const text = choices.slice(1, -2).map((c) => c[0].delta.content).join("");
  assert.equal(text, full.choices[0].message.content);
  assert.ok(choices.slice(0, -2).every((c) => c[0].finish_reason === null));
  assert.deepEqual(choices.at(-2)![0].delta, {});
  assert.equal(choices.at(-2)![0].finish_reason, full.choices[0].finish_reason);
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  assert.deepEqual(choices.at(-1), []);
  assert.deepEqual(chunks.at(-1)!.usage, full.usage);
});

Deno.test("streaming completions without include_usage carry no usage field", async () => {
  const full =
    await (await post(server.app, "/v1/completions", { model: "a1", prompt: "Hello", ...greedy }))
      .json();
  const response = await post(server.app, "/v1/completions", {
    model: "a1",
    prompt: "Hello",
    ...greedy,
    stream: true,
  });
  const chunks = events(await response.text());
  assert.ok(chunks.every((c) => c.object === "text_completion" && !("usage" in c)));
  const choices = chunks.map((c) =>
    (c.choices as { text: string; finish_reason: string | null }[])[0]
  );
  assert.equal(choices.map((c) => c.text).join(""), full.choices[0].text);
  assert.equal(choices.at(-1)!.finish_reason, full.choices[0].finish_reason);
});

Deno.test("a stream that fails after it started ends with an error event, reported to onUnexpectedError", async () => {
  const engine = new ServerEngine(model, { adaptersDir: join(await tempDir(), "adapters") });
  await engine.ready;
  engine.stream = async function* () {
    yield { text: "Once", tokenIds: [], logprobs: [] };
    throw new Error("Device lost");
  };
  const reported: unknown[] = [];
  const app = createApp(engine, { onUnexpectedError: (e) => reported.push(e) });
  const response = await post(app, "/v1/completions", {
    model: FIXTURE_ID,
    prompt: "Hi",
    stream: true,
  });
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.ok(!text.includes("[DONE]"), text);
  const last = JSON.parse(text.trim().split("\n\n").at(-1)!.slice("data: ".length));
  assert.equal(last.error.type, "server_error");
  assert.match(last.error.message, /Device lost/);
  assert.deepEqual(reported.map((e) => (e as Error).message), ["Device lost"]);
});

Deno.test("stop strings end the text before them", async () => {
  const free = await (await post(server.app, "/v1/completions", {
    model: "a1",
    prompt: "Hello",
    temperature: 0,
    max_tokens: 8,
  })).json();
  const text: string = free.choices[0].text;
  const stop = text.slice(2, 4);
  assert.ok(stop.length === 2, `fixture output too short: ${JSON.stringify(text)}`);
  const cut = await (await post(server.app, "/v1/completions", {
    model: "a1",
    prompt: "Hello",
    temperature: 0,
    max_tokens: 8,
    stop,
  })).json();
  assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, "stop");
});

Deno.test("bad requests get OpenAI errors with the right status and param", async () => {
  const chat = (extra: Record<string, unknown>) => ({
    model: FIXTURE_ID,
    messages: [{ role: "user", content: "Hi" }],
    ...extra,
  });
  const cases: [string, unknown, number, string | null][] = [
    ["/v1/chat/completions", "{not json", 400, null],
    ["/v1/chat/completions", "[]", 400, null],
    ["/v1/chat/completions", chat({ model: "gpt-4o" }), 404, "model"],
    ["/v1/chat/completions", chat({ model: "../adapters" }), 404, "model"],
    ["/v1/chat/completions", chat({ messages: [] }), 400, "messages"],
    [
      "/v1/chat/completions",
      chat({ messages: [{ role: "tool", content: "x" }] }),
      400,
      "messages.0.role",
    ],
    [
      "/v1/chat/completions",
      chat({ messages: [{ role: "user", content: 5 }] }),
      400,
      "messages.0.content",
    ],
    ["/v1/chat/completions", chat({ max_tokens: 0 }), 400, "max_tokens"],
    ["/v1/chat/completions", chat({ max_tokens: 1e9 }), 400, "max_tokens"],
    ["/v1/chat/completions", chat({ max_tokens: 1.5 }), 400, "max_tokens"],
    ["/v1/chat/completions", chat({ max_tokens: 250 }), 400, "max_tokens"],
    ["/v1/chat/completions", chat({ temperature: -1 }), 400, "temperature"],
    ["/v1/chat/completions", chat({ temperature: "hot" }), 400, "temperature"],
    ["/v1/chat/completions", chat({ top_p: 0 }), 400, "top_p"],
    ["/v1/chat/completions", chat({ seed: 2 ** 32 }), 400, "seed"], // GPU seeds are 32-bit
    ["/v1/chat/completions", chat({ seed: -1 }), 400, "seed"],
    ["/v1/chat/completions", chat({ stop: ["a", "b", "c", "d", "e"] }), 400, "stop"],
    ["/v1/chat/completions", chat({ stop: "" }), 400, "stop"],
    ["/v1/chat/completions", chat({ n: 2 }), 400, "n"],
    ["/v1/chat/completions", chat({ logprobs: true }), 400, "logprobs"],
    ["/v1/chat/completions", chat({ tools: [{ type: "function" }] }), 400, "tools"],
    ["/v1/chat/completions", chat({ presence_penalty: 2.5 }), 400, "presence_penalty"],
    ["/v1/chat/completions", chat({ frequency_penalty: -3 }), 400, "frequency_penalty"],
    ["/v1/chat/completions", chat({ min_p: 2 }), 400, "min_p"],
    ["/v1/chat/completions", chat({ stream: "yes" }), 400, "stream"],
    [
      "/v1/chat/completions",
      chat({ messages: [{ role: "user", content: "x".repeat(9000) }] }),
      400,
      "messages",
    ],
    ["/v1/completions", { model: FIXTURE_ID, prompt: ["a", "b"] }, 400, "prompt"], // no batching
    ["/v1/completions", { model: FIXTURE_ID, prompt: [1, 2.5] }, 400, "prompt"],
    ["/v1/completions", { model: FIXTURE_ID, prompt: [["a"]] }, 400, "prompt.0"],
    ["/v1/completions", { model: FIXTURE_ID, prompt: "a ".repeat(300) }, 400, "prompt"],
    ["/v1/completions", { model: FIXTURE_ID }, 400, "prompt"],
    ["/v1/completions", { prompt: "x" }, 400, "model"],
    ["/v1/completions", { model: FIXTURE_ID, prompt: "x", logprobs: 1 }, 400, "logprobs"], // no batching
    ["/v1/completions", { model: FIXTURE_ID, prompt: "x", logprobs: 6 }, 400, "logprobs"],
    ["/v1/completions", { model: FIXTURE_ID, prompt: "x", echo: "yes" }, 400, "echo"],
    ["/v1/completions", { model: FIXTURE_ID, prompt: "x", max_tokens: 0 }, 400, "max_tokens"],
    ["/v1/chat/completions", chat({ top_logprobs: 2 }), 400, "top_logprobs"],
    ["/v1/chat/completions", chat({ logprobs: true, top_logprobs: 21 }), 400, "top_logprobs"],
  ];
  for (const [path, body, status, param] of cases) {
    await expectError(await post(server.app, path, body), status, param);
  }
  const e = await expectError(
    await post(server.app, "/v1/completions", { model: FIXTURE_ID, prompt: "x", max_tokens: 600 }),
    400,
  );
  assert.match(e.message, /Requested max_tokens 600 exceeds this server's cap 512/);
  await expectError(await server.app.request("/v1/nothing"), 404);
  await expectError(await server.app.request("/v1/completions"), 404); // GET
});

Deno.test("max_tokens may fill the context exactly; one more is refused as vLLM does", async () => {
  // The fixture model's KV cache and the engine both hold 256 tokens. vLLM refuses a request
  // when prompt_tokens + max_tokens > max_model_len, and serves it in full otherwise.
  const context = 256, prompt = "Once";
  const promptTokens = model.encodePrompt(prompt, "none").length;
  const request = (maxTokens: number) =>
    post(server.app, "/v1/completions", {
      model: FIXTURE_ID,
      prompt,
      temperature: 0,
      max_tokens: maxTokens,
    });
  const full = await request(context - promptTokens);
  const body = await full.json();
  assert.equal(full.status, 200, JSON.stringify(body));
  assert.deepEqual(body.usage, {
    prompt_tokens: promptTokens,
    completion_tokens: context - promptTokens,
    total_tokens: context,
  });
  assert.equal(body.choices[0].finish_reason, "length");
  const over = context - promptTokens + 1;
  const e = await expectError(await request(over), 400, "max_tokens");
  assert.equal(e.code, "context_length_exceeded");
  assert.match(e.message, new RegExp(`max_tokens ${over} exceeds the context of ${context}`));
});

Deno.test("auth: with an API key every /v1 route needs the Bearer token; /health does not", async () => {
  const app = createApp(server.engine, { apiKey: "s3cret" });
  const body = { model: FIXTURE_ID, prompt: "Hi", ...greedy };
  const attempts: Record<string, string>[] = [{}, { authorization: "Bearer wrong" }, {
    authorization: "s3cret",
  }, { authorization: "Bearer s3cret2" }];
  for (const headers of attempts) {
    const error = await expectError(await post(app, "/v1/completions", body, headers), 401);
    assert.equal(error.code, "invalid_api_key");
    await expectError(await app.request("/v1/models", { headers }), 401);
    await expectError(await app.request("/v1/fine_tuning/jobs", { headers }), 401);
  }
  assert.equal((await app.request("/health")).status, 200);
  const ok = await post(app, "/v1/completions", body, { authorization: "Bearer s3cret" });
  assert.equal(ok.status, 200);
  assert.equal(
    (await app.request("/v1/fine_tuning/jobs", { headers: { authorization: "bearer s3cret" } }))
      .status,
    200,
  );
});

Deno.test("without an API key, training and adapter routes need a loopback-only server", async () => {
  const open = createApp(server.engine, { loopbackOnly: false });
  await expectError(await open.request("/v1/fine_tuning/jobs"), 403);
  await expectError(await post(open, "/v1/fine_tuning/jobs", { model: FIXTURE_ID }), 403);
  await expectError(await open.request("/v1/adapters"), 403);
  await expectError(await open.request("/v1/adapters/a1", { method: "DELETE" }), 403);
  assert.equal(
    (await post(open, "/v1/completions", { model: FIXTURE_ID, prompt: "Hi", ...greedy })).status,
    200,
  );
  assert.equal((await server.app.request("/v1/fine_tuning/jobs")).status, 200);
});

Deno.test("bodies over the limit get 413, with or without Content-Length", async () => {
  const app = createApp(server.engine, {
    loopbackOnly: true,
    maxBodyBytes: 1000,
    maxTrainingBodyBytes: 2000,
  });
  const big = { model: FIXTURE_ID, prompt: "x".repeat(1500) };
  const error = await expectError(await post(app, "/v1/completions", big), 413);
  assert.equal(error.code, "request_too_large");
  const chunked = new ReadableStream({
    start(c) {
      c.enqueue(new TextEncoder().encode(JSON.stringify(big)));
      c.close();
    },
  });
  await expectError(
    await app.request("/v1/completions", {
      method: "POST",
      body: chunked,
      headers: { "content-type": "application/json" },
    }),
    413,
  );
  // Fine-tuning has its own, larger limit.
  const data = await expectError(
    await post(app, "/v1/fine_tuning/jobs", { model: FIXTURE_ID, training_data: "y".repeat(1500) }),
    400,
  );
  assert.equal(data.param, "training_data");
  await expectError(
    await post(app, "/v1/fine_tuning/jobs", { model: FIXTURE_ID, training_data: "y".repeat(2500) }),
    413,
  );
});

Deno.test("a full queue answers 429 at once", async () => {
  const { app, engine } = await fixtureServer(model, { engine: { maxQueue: 2 } });
  const first = await engine.scheduler.acquire("request"); // a generation in progress
  const body = { model: FIXTURE_ID, prompt: "Hi", ...greedy };
  const waiting = post(app, "/v1/completions", body); // queued behind it
  const error = await expectError(
    await post(app, "/v1/completions", { ...body, stream: true }),
    429,
  );
  assert.equal(error.code, "rate_limit_exceeded");
  first();
  assert.equal((await waiting).status, 200);
  assert.equal((await post(app, "/v1/completions", body)).status, 200);
});

Deno.test("adapters: listed from the folder, loaded on first use, unloaded and reloaded", async () => {
  // A model of its own: the server lists the adapters its model holds, and `model` holds a1, a2.
  const { app, adaptersDir } = await fixtureServer(await loadFixtureModel("cpu"), {
    adapters: ["b1"],
  });
  const list = async () => (await (await app.request("/v1/adapters")).json()).data;
  assert.deepEqual((await list()).map((a: { id: string; loaded: boolean }) => [a.id, a.loaded]), [[
    "b1",
    false,
  ]]);
  const prompt = { prompt: "Hi", ...greedy };
  const b1 = await (await post(app, "/v1/completions", { model: "b1", ...prompt })).json();
  assert.deepEqual((await list()).map((a: { id: string; loaded: boolean }) => [a.id, a.loaded]), [[
    "b1",
    true,
  ]]);
  assert.equal((await list())[0].lora.r, 4);

  // A replica (or a person) drops a new adapter folder in: it is listed and served at once.
  await writeAdapter(join(adaptersDir, "b2"), randomAdapter(model.config, 555), model.config);
  const models = (await (await app.request("/v1/models")).json()).data.map((m: { id: string }) =>
    m.id
  );
  assert.deepEqual(models, [FIXTURE_ID, "b1", "b2"]);
  const b2 = await (await post(app, "/v1/completions", { model: "b2", ...prompt })).json();
  assert.notEqual(b2.choices[0].text, b1.choices[0].text);

  // Unloading frees memory; the next request loads it again with the same result.
  assert.deepEqual(await (await app.request("/v1/adapters/b1", { method: "DELETE" })).json(), {
    id: "b1",
    object: "adapter",
    deleted: true,
  });
  await expectError(await app.request("/v1/adapters/b1", { method: "DELETE" }), 404, "name");
  const again = await (await post(app, "/v1/completions", { model: "b1", ...prompt })).json();
  assert.equal(again.choices[0].text, b1.choices[0].text);

  // POST reloads from the folder (e.g. after the files were replaced).
  await writeAdapter(join(adaptersDir, "b1"), randomAdapter(model.config, 777), model.config);
  const reloaded = await post(app, "/v1/adapters", { name: "b1" });
  assert.equal((await reloaded.json()).id, "b1");
  const changed = await (await post(app, "/v1/completions", { model: "b1", ...prompt })).json();
  assert.notEqual(changed.choices[0].text, b1.choices[0].text);

  // Names that are not plain folder names, missing folders and folders leading outside: refused.
  await Deno.symlink(join(adaptersDir, "..", "outside"), join(adaptersDir, "evil"));
  await writeAdapter(
    join(adaptersDir, "..", "outside"),
    randomAdapter(model.config, 9),
    model.config,
  );
  await expectError(await post(app, "/v1/adapters", { name: "../outside" }), 400, "name");
  await expectError(await post(app, "/v1/adapters", { name: "/tmp" }), 400, "name");
  await expectError(await post(app, "/v1/adapters", { name: "nope" }), 404, "name");
  await expectError(await post(app, "/v1/adapters", { name: "evil" }), 404, "name");
  await expectError(await post(app, "/v1/adapters", { name: FIXTURE_ID }), 400, "name");
  await expectError(await post(app, "/v1/completions", { model: "evil", ...prompt }), 404, "model");
  assert.ok(!(await list()).some((a: { id: string }) => a.id === "evil"));
  // A broken adapter folder is a clear 400, not a crash.
  await Deno.mkdir(join(adaptersDir, "broken"));
  await Deno.writeTextFile(join(adaptersDir, "broken", "adapter_config.json"), '{"r": 4}');
  const broken = await expectError(
    await post(app, "/v1/completions", { model: "broken", ...prompt }),
    400,
    "model",
  );
  assert.match(broken.message, /Adapter "broken" cannot be loaded/);
});

Deno.test("an adapter removed from the model while its request waits is loaded again in the request's turn", async () => {
  const own = await loadFixtureModel("cpu");
  const { app, engine } = await fixtureServer(own, { adapters: ["c1"] });
  const body = { model: "c1", prompt: "Hi", ...greedy };
  const expected = (await (await post(app, "/v1/completions", body)).json()).choices[0].text;
  const release = await engine.scheduler.acquire("background"); // holds the model
  const waiting = post(app, "/v1/completions", body); // resolves c1 (loaded), then waits
  while (engine.scheduler.waiting === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  own.removeAdapter("c1"); // the model is the one registry: the server sees it gone
  assert.deepEqual(own.adapterNames, []);
  release();
  const response = await waiting;
  assert.equal(response.status, 200);
  assert.equal((await response.json()).choices[0].text, expected);
  assert.deepEqual(own.adapterNames, ["c1"]);
});

Deno.test("fine-tuning requests are validated before the backend: paths, data, names", async () => {
  const root = await tempDir();
  const dataDir = join(root, "data");
  await Deno.mkdir(dataDir);
  await Deno.writeTextFile(join(root, "secret.json"), '[{"instruction":"a","output":"b"}]');
  await Deno.writeTextFile(join(dataDir, "good.json"), '[{"instruction":"a","output":"b"}]');
  await Deno.symlink(join(root, "secret.json"), join(dataDir, "link.json"));
  const { app } = await fixtureServer(model, { engine: { dataDir } });
  const job = (extra: Record<string, unknown>) =>
    post(app, "/v1/fine_tuning/jobs", { model: FIXTURE_ID, ...extra });
  for (
    const file of [
      "../secret.json",
      "/etc/passwd",
      "link.json",
      "missing.json",
      "a/../../secret.json",
    ]
  ) {
    const e = await expectError(await job({ training_file: file }), 400, "training_file");
    assert.match(e.message, /^Invalid training_file/);
  }
  await expectError(await job({ training_data: "[{" }), 400, "training_data");
  await expectError(await job({ training_data: [{ wrong: 1 }] }), 400, "training_data");
  await expectError(await job({}), 400, "training_file");
  await expectError(await job({ training_file: "good.json", training_data: [] }), 400);
  await expectError(await job({ training_file: "good.json", suffix: "../x" }), 400, "suffix");
  await expectError(
    await job({ training_file: "good.json", hyperparameters: { lora_r: 0 } }),
    400,
    "hyperparameters.lora_r",
  );
  await expectError(
    await job({ training_file: "good.json", hyperparameters: { target_modules: ["nope"] } }),
    400,
    "hyperparameters",
  );
  await expectError(
    await job({ training_file: "good.json", hyperparameters: { max_length: 10_000 } }),
    400,
    "hyperparameters.max_length",
  );
  await expectError(
    await job({ training_file: "good.json", hyperparameters: { bogus: 1 } }),
    400,
    "bogus",
  );
  await expectError(await job({ training_file: "good.json", model: "a1" }), 404, "model");
  // Valid in every way: refused only because this server runs on the CPU.
  const e = await expectError(
    await job({ training_file: "good.json", suffix: "ok" }),
    400,
    "model",
  );
  assert.equal(e.code, "training_unavailable");
  // A data directory is needed for training_file.
  const noData = await expectError(
    await post(server.app, "/v1/fine_tuning/jobs", {
      model: FIXTURE_ID,
      training_file: "good.json",
    }),
    400,
  );
  assert.match(noData.message, /no --data-dir/);
  assert.deepEqual(await (await app.request("/v1/fine_tuning/jobs")).json(), {
    object: "list",
    data: [],
    has_more: false,
  });
  await expectError(await app.request("/v1/fine_tuning/jobs/ftjob-nope"), 404);
  await expectError(await app.request("/v1/fine_tuning/jobs/ftjob-nope/events"), 404);
  await expectError(await post(app, "/v1/fine_tuning/jobs/ftjob-nope/cancel", {}), 404);
});

Deno.test("chat without a chat template uses the Human/Assistant format", () => {
  assert.equal(
    humanAssistantTranscript([{ role: "user", content: "为什么天是蓝的？" }]),
    "Human: 为什么天是蓝的？\nAssistant:",
  );
  assert.equal(
    humanAssistantTranscript([
      { role: "system", content: "Be kind." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
      { role: "user", content: "Bye" },
    ]),
    "Be kind.\nHuman: Hi\nAssistant: Hello\nHuman: Bye\nAssistant:",
  );
});

Deno.test("a replica started without training answers 403 and leaves the job files alone", async () => {
  const root = await tempDir();
  const adaptersDir = join(root, "adapters");
  const jobs = join(adaptersDir, ".jobs");
  await Deno.mkdir(jobs, { recursive: true });
  const record = JSON.stringify({
    job: {
      object: "fine_tuning.job",
      id: "ftjob-other",
      status: "running",
      created_at: 1,
      last_checkpoint: null,
    },
    events: [],
  });
  await Deno.writeTextFile(join(jobs, "ftjob-other.json"), record);
  const engine = new ServerEngine(model, { adaptersDir, training: false });
  await engine.ready;
  const app = createApp(engine, { loopbackOnly: true });
  const error = await expectError(await app.request("/v1/fine_tuning/jobs"), 403);
  assert.equal(error.code, "training_disabled");
  await expectError(await post(app, "/v1/fine_tuning/jobs", { model: FIXTURE_ID }), 403);
  assert.equal(await Deno.readTextFile(join(jobs, "ftjob-other.json")), record); // still "running"
  assert.equal(
    (await post(app, "/v1/completions", { model: FIXTURE_ID, prompt: "Hi", ...greedy })).status,
    200,
  );
  await engine.close();
});
