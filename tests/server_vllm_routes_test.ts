/**
 * vLLM's routes and fields on the CPU backend (no GPU needed): /tokenize and /detokenize,
 * /metrics in Prometheus text, /v1/load_lora_adapter and /v1/unload_lora_adapter with paths
 * confined to the adapters directory, stop_token_ids, and the clear 400s for min_p and for
 * n > 1 without batching.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { expectError, post } from "./_server_requests.ts";
import {
  FIXTURE_ID,
  fixtureServer,
  loadFixtureModel,
  randomAdapter,
  tempDir,
  writeAdapter,
} from "../server/_test_fixture.ts";

const model = await loadFixtureModel("cpu");
const { app, adaptersDir } = await fixtureServer(model, { adapters: ["a1"] });

async function ok(response: Response) {
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return text;
}

async function error(response: Response, status: number, param: string | null) {
  return (await expectError(response, status, param)).message;
}

Deno.test("tokenize and detokenize round-trip a prompt and tokenize chat messages as generation sees them", async () => {
  const tokens = JSON.parse(await ok(await post(app, "/tokenize", { prompt: "hello world" })));
  assert.deepEqual(tokens.tokens, model.encodePrompt("hello world", "none"));
  assert.equal(tokens.count, tokens.tokens.length);
  assert.equal(tokens.max_model_len, model.maxContext);
  const bare = JSON.parse(
    await ok(await post(app, "/tokenize", { prompt: "hello world", add_special_tokens: false })),
  );
  assert.deepEqual(bare.tokens, model.tokenizer.encode("hello world", { addSpecialTokens: false }));
  const text = JSON.parse(await ok(await post(app, "/detokenize", { tokens: bare.tokens })));
  assert.equal(text.prompt, "hello world");
  const messages = [{ role: "user", content: "hi" }];
  const chat = JSON.parse(await ok(await post(app, "/tokenize", { messages })));
  assert.deepEqual(chat.tokens, model.encodePrompt([{ role: "user", content: "hi" }], "chat"));
  await error(await post(app, "/detokenize", { tokens: [1, 1e9] }), 400, "tokens.1");
  await error(await post(app, "/tokenize", { nothing: 1 }), 400, null);
});

Deno.test("stop_token_ids end generation at that id; n > 1 without batching is refused by name", async () => {
  const body = {
    model: FIXTURE_ID,
    prompt: "Human: hello\nAssistant:",
    max_tokens: 8,
    temperature: 0,
  };
  const free = JSON.parse(await ok(await post(app, "/v1/completions", body)));
  const ids = JSON.parse(
    await ok(
      await post(app, "/tokenize", { prompt: free.choices[0].text, add_special_tokens: false }),
    ),
  ).tokens;
  assert.ok(ids.length >= 3, free.choices[0].text);
  const stopped = JSON.parse(
    await ok(await post(app, "/v1/completions", { ...body, stop_token_ids: [ids[2]] })),
  );
  assert.equal(stopped.choices[0].finish_reason, "stop");
  assert.equal(stopped.usage.completion_tokens, ids.indexOf(ids[2]) + 1);
  // min_p is served on the CPU backend too (it leaves a greedy choice as it is).
  const minP = JSON.parse(await ok(await post(app, "/v1/completions", { ...body, min_p: 0.1 })));
  assert.equal(minP.choices[0].text, free.choices[0].text);
  assert.match(
    await error(await post(app, "/v1/completions", { ...body, n: 2 }), 400, "n"),
    /continuous batching/,
  );
  await error(await post(app, "/v1/completions", { ...body, n: 17 }), 400, "n");
});

Deno.test("metrics count requests by finish reason and tokens, in Prometheus text", async () => {
  const body = {
    model: FIXTURE_ID,
    prompt: "Human: hello\nAssistant:",
    max_tokens: 3,
    temperature: 0,
  };
  const before = await (await app.request("/metrics")).text();
  const count = (text: string, name: string) =>
    Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  await ok(await post(app, "/v1/completions", body));
  const response = await app.request("/metrics");
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const after = await response.text();
  assert.equal(
    count(after, "vllm:generation_tokens_total") - count(before, "vllm:generation_tokens_total"),
    3,
  );
  assert.ok(count(after, "vllm:prompt_tokens_total") > count(before, "vllm:prompt_tokens_total"));
  assert.match(
    after,
    /^vllm:request_success_total\{model_name="tiny",finished_reason="length"\} \d+$/m,
  );
  assert.match(
    after,
    /^vllm:time_to_first_token_seconds_bucket\{model_name="tiny",le="\+Inf"\} \d+$/m,
  );
  assert.match(after, /^# TYPE vllm:inter_token_latency_seconds histogram$/m);
  assert.match(after, /^vllm:num_requests_running\{model_name="tiny"\} 0$/m);
});

Deno.test("load_lora_adapter loads a folder inside the adapters directory under a new name; paths outside are refused", async () => {
  await writeAdapter(
    join(adaptersDir, "nested", "x"),
    randomAdapter(model.config, 7),
    model.config,
  );
  assert.match(
    await ok(
      await post(app, "/v1/load_lora_adapter", { lora_name: "fresh", lora_path: "nested/x" }),
    ),
    /Success/,
  );
  const body = { model: "fresh", prompt: "hi", max_tokens: 2, temperature: 0 };
  await ok(await post(app, "/v1/completions", body));
  await ok(
    await post(app, "/v1/load_lora_adapter", {
      lora_name: "abs",
      lora_path: join(adaptersDir, "nested", "x"),
    }),
  );
  const outside = await tempDir();
  await writeAdapter(join(outside, "y"), randomAdapter(model.config, 8), model.config);
  await error(
    await post(app, "/v1/load_lora_adapter", { lora_name: "y", lora_path: join(outside, "y") }),
    400,
    "lora_path",
  );
  await error(
    await post(app, "/v1/load_lora_adapter", { lora_name: "y", lora_path: "../y" }),
    400,
    "lora_path",
  );
  await error(
    await post(app, "/v1/load_lora_adapter", { lora_name: "../y", lora_path: "nested/x" }),
    400,
    "lora_name",
  );
  assert.match(
    await ok(await post(app, "/v1/unload_lora_adapter", { lora_name: "fresh" })),
    /Success/,
  );
  await error(await post(app, "/v1/unload_lora_adapter", { lora_name: "fresh" }), 404, "lora_name");
});
