/**
 * A real server on 127.0.0.1, port 0, with the fixture model on the CPU backend (no GPU
 * needed): HTTP streaming and non-streaming, the official `openai` client, and a few hundred
 * malformed or hostile requests that must all get a 4xx while the server stays healthy.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import OpenAI from "openai";
import { createApp } from "../server/app.ts";
import {
  FIXTURE_ID,
  fixtureServer,
  loadFixtureModel,
  serveApp,
  tempDir,
} from "../server/_test_fixture.ts";

const model = await loadFixtureModel("cpu");

Deno.test("HTTP: non-streaming and streaming chat agree; the openai client works offline", async () => {
  const { app } = await fixtureServer(model, { adapters: ["a1"], app: { apiKey: "k-123" } });
  const server = serveApp(app);
  try {
    const headers = { authorization: "Bearer k-123", "content-type": "application/json" };
    const body = {
      model: "a1",
      messages: [{ role: "user", content: "Hello" }],
      temperature: 0,
      max_tokens: 6,
    };
    const full = await (await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
    })).json();
    const expected = await model.generate(body.messages as { role: "user"; content: string }[], {
      adapter: "a1",
      temperature: 0,
      maxTokens: 6,
    });
    assert.equal(full.choices[0].message.content, expected.text);
    const streamed = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers,
      body: JSON.stringify({ ...body, stream: true }),
    });
    assert.match(streamed.headers.get("content-type")!, /^text\/event-stream/);
    const raw = await streamed.text();
    assert.ok(raw.endsWith("data: [DONE]\n\n"));
    const deltas = raw.split("\n\n").filter((b) => b.startsWith("data: {")).map((b) =>
      JSON.parse(b.slice(6))
    );
    assert.equal(deltas.map((d) => d.choices[0].delta.content ?? "").join(""), expected.text);

    const client = new OpenAI({ apiKey: "k-123", baseURL: `${server.url}/v1`, maxRetries: 0 });
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), [FIXTURE_ID, "a1"]);
    const chat = await client.chat.completions.create({
      model: "a1",
      messages: [{ role: "user", content: "Hello" }],
      temperature: 0,
      max_tokens: 6,
    });
    assert.equal(chat.choices[0].message.content, expected.text);
    assert.equal(chat.usage?.completion_tokens, expected.completionTokens);
    const stream = await client.chat.completions.create({
      model: "a1",
      messages: [{ role: "user", content: "Hello" }],
      temperature: 0,
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "", usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    assert.equal(text, expected.text);
    assert.equal(usage?.total_tokens, expected.promptTokens + expected.completionTokens);
    const completion = await client.completions.create({
      model: FIXTURE_ID,
      prompt: "Once",
      temperature: 0,
      max_tokens: 5,
    });
    const direct = await model.generate("Once", { template: "none", temperature: 0, maxTokens: 5 });
    assert.equal(completion.choices[0].text, direct.text);
    // The client surfaces the server's errors with their status and message.
    await assert.rejects(
      client.chat.completions.create({
        model: "missing",
        messages: [{ role: "user", content: "x" }],
      }),
      (e: unknown) => e instanceof OpenAI.NotFoundError && /does not exist/.test(e.message),
    );
    const wrongKey = new OpenAI({ apiKey: "nope", baseURL: `${server.url}/v1`, maxRetries: 0 });
    await assert.rejects(wrongKey.models.list(), OpenAI.AuthenticationError);
  } finally {
    await server.close();
  }
});

/** A hostile request: where it goes and what it carries. */
interface Hostile {
  method: string;
  path: string;
  body?: string | Uint8Array<ArrayBuffer>;
  headers?: Record<string, string>;
  keyed?: boolean; // sent to the server that has an API key, without the right one
}

function hostileRequests(): Hostile[] {
  const list: Hostile[] = [];
  const post = (path: string, body: unknown) =>
    list.push({
      method: "POST",
      path,
      body: typeof body === "string" || body instanceof Uint8Array
        ? body as string | Uint8Array<ArrayBuffer>
        : JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
  const endpoints = [
    "/v1/completions",
    "/v1/chat/completions",
    "/v1/fine_tuning/jobs",
    "/v1/adapters",
  ];
  const badJson: (string | Uint8Array<ArrayBuffer>)[] = [
    "",
    "{",
    "}",
    "null",
    "[]",
    "1",
    '"text"',
    "{'model': 1}",
    '{"model":}',
    "\u0000",
    new Uint8Array([0xff, 0xfe, 0x7b, 0x80]),
    "true",
    "[".repeat(100_000) + "]".repeat(100_000),
    '{"__proto__": {"admin": true}}',
  ];
  for (const path of endpoints) for (const body of badJson) post(path, body);

  const chat = { model: FIXTURE_ID, messages: [{ role: "user", content: "Hi" }], max_tokens: 4 };
  const chatFields: Record<string, unknown[]> = {
    model: [
      1,
      null,
      {},
      [],
      "",
      "x".repeat(300),
      "../a1",
      "a1/../a1",
      "/etc/passwd",
      "..",
      ".jobs",
      "%2e%2e",
      "a1\u0000",
      "gpt-4",
    ],
    messages: [
      "x",
      {},
      [1],
      [{ role: "user" }],
      [{ role: "user", content: null }],
      [{ role: 1, content: "x" }],
      [{ role: "tool", content: "x" }],
      Array(2000).fill({ role: "user", content: "x" }),
      [{ role: "user", content: [{ type: "image_url", image_url: "x" }] }],
    ],
    max_tokens: [-1, "5", 1e308, 2 ** 53, 0.5, true, 100_000],
    temperature: ["x", 99, -0.1],
    top_p: [2, -1, 0],
    top_k: [-5, 1.5, "x", 1e12],
    seed: [1.5, "x", 1e300],
    stop: [5, [1], ["a", "b", "c", "d", "e"], "", "s".repeat(300)],
    stream: ["true", 1],
    stream_options: ["x", { include_usage: "yes" }],
    n: [2, 0],
    logprobs: [true],
    tools: [[{ type: "function" }]],
    response_format: [{ type: "json_object" }],
    presence_penalty: [[0.5], 3, "x"],
    frequency_penalty: [-2.5],
    min_p: [1.5, -0.1],
    top_logprobs: [2, 21],
    repetition_penalty: [0, -1, 1e9],
  };
  for (const [field, values] of Object.entries(chatFields)) {
    for (const value of values) post("/v1/chat/completions", { ...chat, [field]: value });
  }
  for (
    const prompt of [
      1,
      null,
      [],
      [[]],
      [-1, 2], // token ids: negative, fractional, past the vocabulary
      [1.5],
      [1e9],
      ["a", "b"], // several prompts need batching
      {},
      "x".repeat(200_000),
      "a ".repeat(1000),
    ]
  ) {
    post("/v1/completions", { model: FIXTURE_ID, prompt });
  }
  for (
    const extra of [
      { echo: "yes" },
      { best_of: 3 },
      { suffix: "x" },
      { logprobs: 5 },
      { logprobs: 6 },
      { max_tokens: 0, echo: true },
    ]
  ) {
    post("/v1/completions", { model: FIXTURE_ID, prompt: "x", ...extra });
  }
  post("/v1/completions", JSON.stringify({ model: FIXTURE_ID, prompt: "y".repeat(2 << 20) })); // 413

  const job = { model: FIXTURE_ID, training_data: [{ instruction: "a", output: "b" }] };
  for (
    const file of [
      "../secret.json",
      "/etc/passwd",
      "..\\secret.json",
      "data/../../secret.json",
      "a\u0000",
      "link.json",
      "",
      "C:\\x",
    ]
  ) {
    post("/v1/fine_tuning/jobs", { model: FIXTURE_ID, training_file: file });
  }
  for (const suffix of ["../x", "/abs", ".hidden", "a/b", "x".repeat(1000), "", 5]) {
    post("/v1/fine_tuning/jobs", { ...job, suffix });
  }
  const hyper: Record<string, unknown>[] = [
    { n_epochs: 1e9 },
    { batch_size: 1e6 },
    { lora_r: 1e6 },
    { learning_rate: -1 },
    { target_modules: ["../x"] },
    { target_modules: [] },
    { max_length: 1e9 },
    { lora_dropout: 1 },
    { unknown: 1 },
    { n_epochs: "many" },
  ];
  for (const hyperparameters of hyper) post("/v1/fine_tuning/jobs", { ...job, hyperparameters });
  for (
    const extra of [
      { model: "a1" },
      { training_data: [] },
      { training_data: 5 },
      { training_data: "not a data set" },
      { validation_file: "x" },
      { seed: -1 },
    ]
  ) {
    post("/v1/fine_tuning/jobs", { ...job, ...extra });
  }
  post("/v1/fine_tuning/jobs", job); // valid, but this server runs on the CPU
  for (
    const name of ["../a1", "/tmp", "..", ".jobs", "a/b", "", "missing", FIXTURE_ID, "a1\u0000"]
  ) post("/v1/adapters", { name });

  for (
    const path of [
      "/v1/adapters/..%2F..",
      "/v1/adapters/missing",
      "/v1/adapters/..",
      "/v1/adapters/%00",
    ]
  ) {
    list.push({ method: "DELETE", path });
  }
  for (
    const [method, path] of [
      ["GET", "/v1/chat/completions"],
      ["PUT", "/v1/models"],
      ["DELETE", "/v1/models"],
      ["POST", "/v1/models"],
      ["GET", "/v1/models/..%2Fsecret"],
      ["GET", "/v1/fine_tuning/jobs/ftjob-x/cancel"],
      ["GET", "/v1/fine_tuning/jobs/../../etc/passwd"],
      ["GET", "/v1/fine_tuning/jobs/ftjob-missing"],
      ["GET", "/v1/fine_tuning/jobs/ftjob-missing/events?stream=true"],
      ["POST", "/v1/fine_tuning/jobs/ftjob-missing/cancel"],
      ["GET", "/v1/fine_tuning/jobs?limit=-1"],
      ["GET", "/v1/fine_tuning/jobs?limit=abc"],
      ["GET", "/v1/fine_tuning/jobs?limit=1e9"],
      ["GET", "/v1/fine_tuning/jobs?after=ftjob-none"],
      ["GET", "/v2/models"],
      ["GET", "/../../etc/passwd"],
    ]
  ) list.push({ method, path });

  // Missing or wrong credentials on the server that has an API key.
  const routes: [string, string][] = [
    ["GET", "/v1/models"],
    ["POST", "/v1/completions"],
    ["POST", "/v1/chat/completions"],
    ["GET", "/v1/fine_tuning/jobs"],
    ["POST", "/v1/fine_tuning/jobs"],
    ["GET", "/v1/fine_tuning/jobs/ftjob-x"],
    ["POST", "/v1/fine_tuning/jobs/ftjob-x/cancel"],
    ["GET", "/v1/fine_tuning/jobs/ftjob-x/events"],
    ["GET", "/v1/adapters"],
    ["POST", "/v1/adapters"],
    ["DELETE", "/v1/adapters/a1"],
  ];
  const credentials: Record<string, string>[] = [
    {},
    { authorization: "Bearer wrong" },
    { authorization: "Basic azpr" },
    { authorization: "Bearer" },
    { authorization: "Bearer  " },
    { authorization: "k-123" },
    { authorization: "Bearer k-1234" },
  ];
  for (const [method, path] of routes) {
    for (const headers of credentials) {
      list.push({
        method,
        path,
        headers: { "content-type": "application/json", ...headers },
        keyed: true,
        body: method === "POST" ? JSON.stringify(chat) : undefined,
      });
    }
  }
  return list;
}

Deno.test("HTTP: hundreds of malformed and hostile requests all get a 4xx; the server stays healthy", async () => {
  const root = await tempDir();
  const dataDir = join(root, "data");
  await Deno.mkdir(dataDir);
  await Deno.writeTextFile(join(root, "secret.json"), '[{"instruction":"a","output":"b"}]');
  await Deno.symlink(join(root, "secret.json"), join(dataDir, "link.json"));
  const { app, engine } = await fixtureServer(model, { adapters: ["a1"], engine: { dataDir } });
  const plain = serveApp(app);
  const keyed = serveApp(createApp(engine, { apiKey: "k-123" }));
  try {
    const requests = hostileRequests();
    assert.ok(requests.length >= 200, `only ${requests.length} requests`);
    const failures: string[] = [];
    for (let i = 0; i < requests.length; i += 16) {
      await Promise.all(
        requests.slice(i, i + 16).map(async (r) => {
          const response = await fetch(`${r.keyed ? keyed.url : plain.url}${r.path}`, {
            method: r.method,
            body: r.body,
            headers: r.headers,
          });
          const text = await response.text();
          const what = `${r.method} ${r.path} ${
            String(r.body ?? "").slice(0, 80)
          } → ${response.status} ${text.slice(0, 160)}`;
          if (response.status < 400 || response.status >= 500) {
            failures.push(what);
          } else {
            const error = JSON.parse(text).error;
            if (typeof error?.message !== "string" || !("param" in error) || !("code" in error)) {
              failures.push(`not an OpenAI error: ${what}`);
            }
          }
        }),
      );
    }
    assert.deepEqual(failures, [], failures.join("\n"));
    for (const url of [plain.url, keyed.url]) {
      assert.equal((await (await fetch(`${url}/health`)).json()).status, "ok");
    }
    const ok = await fetch(`${plain.url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "a1", prompt: "Hi", max_tokens: 3 }),
    });
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).usage.completion_tokens > 0, true);
    assert.equal(engine.scheduler.requests, 0);
  } finally {
    await plain.close();
    await keyed.close();
  }
});
