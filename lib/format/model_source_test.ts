import assert from "node:assert/strict";
import {
  checkModelPath,
  memoryModelSource,
  ModelFileNotFoundError,
  readJson,
  urlModelSource,
} from "./model_source.ts";

const encode = (text: string) => new TextEncoder().encode(text);

Deno.test("checkModelPath accepts relative paths and refuses escapes", () => {
  for (const ok of ["config.json", "sub/model-00001-of-00002.safetensors", "a b/ü.json"]) {
    checkModelPath(ok);
  }
  for (const bad of ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./x", "a\\b", "x/"]) {
    assert.throws(
      () => checkModelPath(bad),
      new RegExp(`^Error: Invalid model file path ${JSON.stringify(bad).replaceAll("\\", "\\\\")}`),
    );
  }
});

Deno.test("memoryModelSource reads, probes, and names missing files", async () => {
  const bytes = encode("{}");
  const source = memoryModelSource("mem", new Map([["config.json", bytes]]));
  assert.equal(source.name, "mem");
  assert.equal(await source.read("config.json"), bytes);
  assert.ok(await source.has("config.json"));
  assert.ok(!(await source.has("model.safetensors")));
  const error = await source.read("model.safetensors").catch((e) => e);
  assert.ok(error instanceof ModelFileNotFoundError);
  assert.equal(error.message, 'File "model.safetensors" not found in "mem"');
  assert.equal(error.path, "model.safetensors");
  await assert.rejects(source.has("../config.json"), /Invalid model file path "..\/config.json"/);
});

Deno.test("readJson names the file and source on bad JSON", async () => {
  const source = memoryModelSource(
    "mem",
    new Map([["a.json", encode("{]")], ["b.json", encode("[1]")]]),
  );
  assert.deepEqual(await readJson(source, "b.json"), [1]);
  await assert.rejects(readJson(source, "a.json"), /^Error: Invalid JSON in "a.json" of "mem": /);
});

Deno.test("urlModelSource over HTTP: GET, HEAD, 404, errors, path encoding", async () => {
  const files = new Map([["config.json", "{}"], ["sub dir/ü.json", "[2]"]]);
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = decodeURIComponent(new URL(request.url).pathname);
    seen.push(`${request.method} ${path}`);
    if (path === "/models/tiny/broken.json") return new Response("no", { status: 500 });
    const body = files.get(path.replace("/models/tiny/", ""));
    return body === undefined ? new Response("missing", { status: 404 }) : new Response(body);
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}/models/tiny`; // no trailing slash
    const source = urlModelSource(base);
    assert.equal(source.name, `${base}/`);
    assert.deepEqual(await readJson(source, "config.json"), {});
    assert.deepEqual(await readJson(source, "sub dir/ü.json"), [2]);
    assert.ok(await source.has("config.json"));
    assert.ok(!(await source.has("model.safetensors")));
    await assert.rejects(
      source.read("model.safetensors"),
      (e) => e instanceof ModelFileNotFoundError && e.message.includes('"model.safetensors"'),
    );
    await assert.rejects(
      source.read("broken.json"),
      /^Error: Cannot read "broken.json" from "http:\/\/127.0.0.1:\d+\/models\/tiny\/": HTTP 500/,
    );
    await assert.rejects(source.has("broken.json"), /Cannot check "broken.json" .*HTTP 500/);
    assert.ok(seen.includes("HEAD /models/tiny/config.json"));
    assert.ok(seen.includes("GET /models/tiny/sub dir/ü.json"));
  } finally {
    await server.shutdown();
  }
});

Deno.test("urlModelSource reports unreachable servers with the file name", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now
  const source = urlModelSource(`http://127.0.0.1:${port}/`);
  await assert.rejects(source.read("config.json"), /^Error: Cannot read "config.json" from "http/);
});

Deno.test("urlModelSource over file: URLs", async () => {
  const source = urlModelSource(new URL("../../tests/golden/tiny-f32", import.meta.url));
  assert.ok(await source.has("config.json"));
  assert.ok(!(await source.has("tokenizer.json")));
  const config = await readJson(source, "config.json") as Record<string, unknown>;
  assert.equal(config["hidden_size"], 64);
  await assert.rejects(source.read("tokenizer.json"), /Cannot read "tokenizer.json" from "file:/);
});
