/**
 * mod.ts imported from a URL: the repository is served over HTTP on 127.0.0.1 and a fresh Deno
 * process, with an empty DENO_DIR and no config file, imports mod.ts from that URL, loads a
 * fixture model and generates — the same greedy tokens as this process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createFixtureModel } from "../lib/fixtures/fixture_model.ts";
import { writeModelFiles } from "../lib/format/fs_model_source.ts";
import { loadModel } from "../lib/model/load_model.ts";
import { gpuTest } from "./_gpu.ts";

const ROOT = new URL("../", import.meta.url);

gpuTest("mod.ts imported from a URL in a fresh Deno loads a fixture and generates", async (gpu) => {
  const work = await Deno.makeTempDir();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(new URL(`.${path}`, ROOT));
      const type = path.endsWith(".ts") ? "application/typescript" : "text/plain";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    const modelDir = join(work, "model");
    await writeModelFiles(modelDir, createFixtureModel({ seed: 4, embeddingStd: 0.1 }));
    const url = `http://127.0.0.1:${server.addr.port}/mod.ts`;
    const script = `import { loadModel } from ${JSON.stringify(url)};
const model = await loadModel(${JSON.stringify(modelDir)});
const result = await model.generate("Hello", { maxTokens: 6, temperature: 0 });
console.log(JSON.stringify({ tokens: result.tokens, backend: model.backend }));`;
    await Deno.writeTextFile(join(work, "main.ts"), script);
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-config", "--no-lock", "--quiet", "main.ts"],
      cwd: work,
      env: { DENO_DIR: join(work, "deno_dir"), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, `child failed: ${stderr}`);
    const child = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
    const model = await loadModel(modelDir, { gpu });
    const here = await model.generate("Hello", { maxTokens: 6, temperature: 0 });
    model.dispose();
    assert.equal(child.backend, "webgpu");
    assert.deepEqual(child.tokens, here.tokens);
  } finally {
    await server.shutdown();
    await Deno.remove(work, { recursive: true });
  }
});
