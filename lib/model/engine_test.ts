import assert from "node:assert/strict";
import { parseModelConfig } from "./config.ts";
import { fixtureConfig } from "../fixtures/fixture_model.ts";
import { resolveKvCacheDtype, resolveMaxContext } from "./engine.ts";

const config = (positions: number) =>
  parseModelConfig(fixtureConfig({ overrides: { max_position_embeddings: positions } }));

Deno.test("the context is the one asked for, else the model's positions capped at 2048", () => {
  assert.equal(resolveMaxContext(config(131072)), 2048);
  assert.equal(resolveMaxContext(config(512)), 512);
  assert.equal(resolveMaxContext(config(512), 64), 64);
  assert.equal(resolveMaxContext(config(512), 1024), 1024);
});

Deno.test("the KV-cache dtype is f32 by default, f16 on request, and nothing else", () => {
  assert.equal(resolveKvCacheDtype(), "f32");
  assert.equal(resolveKvCacheDtype("f16"), "f16");
  assert.throws(() => resolveKvCacheDtype("bf16"), /KV cache dtype bf16 is not f32 or f16/);
});
