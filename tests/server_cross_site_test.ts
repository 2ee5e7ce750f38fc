/**
 * Server hardening through `app.request()` on the CPU backend: cross-site requests (Host,
 * Origin, Content-Type, CORS), API keys that must not be empty, suffixes that never replace
 * what they name, and error messages that hide the server's absolute paths.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkApiKey, createApp } from "../server/app.ts";
import { hideServerPaths } from "../server/errors.ts";
import { webRoutes } from "../server/web_routes.ts";
import {
  FIXTURE_ID,
  fixtureServer,
  loadFixtureModel,
  randomAdapter,
} from "../server/_test_fixture.ts";
import { expectError, post } from "./_server_requests.ts";

const model = await loadFixtureModel("cpu");
const server = await fixtureServer(model, { adapters: ["a1"] });
const DATA = [{ instruction: "Q?", output: "A." }];

Deno.test("cross-site: the reviewer's text/plain POST from evil.example is refused three ways", async () => {
  const attack = (url: string, headers: Record<string, string>) =>
    server.app.request(url, {
      method: "POST",
      body: JSON.stringify({ model: FIXTURE_ID, training_data: DATA }),
      headers: { "content-type": "text/plain", ...headers },
    });
  // DNS rebinding: the page's own host name now points at 127.0.0.1.
  const host = await expectError(
    await attack("http://attacker.example/v1/fine_tuning/jobs", {}),
    403,
  );
  assert.equal(host.code, "invalid_host");
  const origin = await expectError(
    await attack("http://127.0.0.1:8000/v1/fine_tuning/jobs", {
      origin: "http://evil.example",
    }),
    403,
  );
  assert.equal(origin.code, "cross_origin");
  const type = await expectError(
    await attack("http://localhost:8000/v1/fine_tuning/jobs", {}),
    415,
  );
  assert.equal(type.code, "unsupported_media_type");
  // Loopback names and the server's own origin (the playground) pass.
  for (const url of ["http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:8000"]) {
    const response = await server.app.request(`${url}/v1/completions`, {
      method: "POST",
      body: JSON.stringify({ model: FIXTURE_ID, prompt: "Hi", max_tokens: 2 }),
      headers: { "content-type": "application/json; charset=utf-8", origin: url },
    });
    assert.equal(response.status, 200, url);
    assert.equal(response.headers.get("access-control-allow-origin"), null);
  }
  assert.deepEqual(await server.engine.fineTuning.list(), []);
});

Deno.test("cross-site: an allowed origin gets CORS; a keyed server answers any Host", async () => {
  const app = createApp(server.engine, {
    apiKey: "k-1",
    corsOrigins: ["https://app.example"],
  });
  const preflight = await app.request("http://api.example/v1/chat/completions", {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  const models = await app.request("http://api.example/v1/models", {
    headers: { origin: "https://app.example", authorization: "Bearer k-1" },
  });
  assert.equal(models.status, 200);
  assert.equal(models.headers.get("access-control-allow-origin"), "https://app.example");
  const other = await app.request("http://api.example/v1/models", {
    headers: { origin: "https://other.example", authorization: "Bearer k-1" },
  });
  assert.equal((await expectError(other, 403)).code, "cross_origin");
  assert.throws(
    () => createApp(server.engine, { corsOrigins: ["app.example"] }),
    /Invalid CORS origin "app\.example"/,
  );
});

Deno.test("API keys: an empty key is refused, never read as no authentication", () => {
  assert.throws(() => checkApiKey(""), /The API key is empty/);
  assert.throws(() => createApp(server.engine, { apiKey: "" }), /The API key is empty/);
  assert.throws(() => checkApiKey("has space"), /only letters, digits/);
  assert.equal(checkApiKey(null), null);
  assert.equal(checkApiKey("sk-abc.DEF_1~+/=="), "sk-abc.DEF_1~+/==");
});

Deno.test("suffix: a name held by any folder or file is a 409, and nothing is replaced", async () => {
  const { app, adaptersDir } = await fixtureServer(model);
  await Deno.mkdir(join(adaptersDir, "precious"));
  await Deno.writeTextFile(join(adaptersDir, "precious", "thesis.txt"), "years of work");
  await Deno.writeTextFile(join(adaptersDir, "stray.txt"), "keep me");
  for (const suffix of ["precious", "stray.txt"]) {
    const e = await expectError(
      await post(app, "/v1/fine_tuning/jobs", { model: FIXTURE_ID, training_data: DATA, suffix }),
      409,
      "suffix",
    );
    assert.equal(e.code, "name_taken");
  }
  assert.equal(
    await Deno.readTextFile(join(adaptersDir, "precious", "thesis.txt")),
    "years of work",
  );
  assert.equal(await Deno.readTextFile(join(adaptersDir, "stray.txt")), "keep me");
});

Deno.test("suffix: an adapter saved under a name taken meanwhile gets a counter instead", async () => {
  const { engine, adaptersDir } = await fixtureServer(model, { adapters: ["mine"] });
  await Deno.writeTextFile(join(adaptersDir, "mine-2"), "not an adapter");
  assert.ok(await engine.adapters.resolve("mine")); // loaded: the model holds the name too
  const saved = await engine.adapters.saveNew("mine", randomAdapter(model.config, 9));
  assert.equal(saved.name, "mine-3");
  assert.equal(await Deno.readTextFile(join(adaptersDir, "mine-2")), "not an adapter");
  assert.ok((await Deno.stat(join(adaptersDir, "mine", "adapter_config.json"))).isFile);
  assert.ok((await Deno.stat(join(adaptersDir, "mine-3", "adapter_config.json"))).isFile);
});

Deno.test("errors: absolute server paths are hidden, the file's own name is kept", async () => {
  const { app, adaptersDir } = await fixtureServer(model);
  await Deno.mkdir(join(adaptersDir, "broken"));
  await Deno.writeTextFile(
    join(adaptersDir, "broken", "adapter_config.json"),
    JSON.stringify({ peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj"] }),
  );
  const e = await expectError(await post(app, "/v1/adapters", { name: "broken" }), 400, "model");
  assert.equal(e.code, "invalid_adapter");
  assert.match(e.message, /adapter_model\.safetensors/);
  assert.ok(!e.message.includes(adaptersDir), e.message);
  assert.ok(!e.message.includes(Deno.cwd()), e.message);
  assert.equal(
    hideServerPaths("open '/srv/models/x/config.json' failed (at /a/b.ts:3:1), see http://h/x"),
    "open '…/config.json' failed (at …/b.ts:3:1), see http://h/x",
  );
});

Deno.test("cross-site: the model folder the playground loads is guarded too (no DNS rebinding)", async () => {
  const { app, root } = await fixtureServer(model);
  await Deno.writeTextFile(join(root, "config.json"), "{}");
  app.route("/", webRoutes({ modelDir: root }));
  assert.equal((await app.request("http://127.0.0.1/model/config.json")).status, 200);
  const rebound = await expectError(
    await app.request("http://attacker.example/model/config.json"),
    403,
  );
  assert.equal(rebound.code, "invalid_host");
});
